/**
 * Public client API of corosync-ts (`corosync-ts/client`).
 */
export {
  CmapHandle,
  CmapMapKind,
  CmapTrack,
  CsDispatchFlags,
  type CmapInitializeOptions,
  type CmapIterEntry,
  type CmapNotification,
  type CmapNotifyFn,
  type CmapNotifyValue,
  type CmapRawValue,
} from './cmap.js';
export { IpcClientConnection, type IpcClientOptions } from './connection.js';
export { CsError, CsErrorCode, csErrorName, csStrerror } from '../common/errors.js';
export { CmapValueType, type CmapValue } from '../cmap/types.js';
