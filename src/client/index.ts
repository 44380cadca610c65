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
export {
  CpgHandle,
  CpgModel,
  CpgGuarantee,
  CpgReason,
  CpgIterationType,
  CpgFlowControlState,
  CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
  CPG_MEMBERS_MAX,
  cpgGroupName,
  type CpgAddress,
  type CpgCallbacks,
  type CpgConfchgFn,
  type CpgDeliverFn,
  type CpgEvent,
  type CpgGroupName,
  type CpgGroupNameInput,
  type CpgInitializeOptions,
  type CpgIterationDescription,
  type CpgModelV1Data,
  type CpgRingId,
  type CpgSendOptions,
  type CpgTotemConfchgFn,
} from './cpg.js';
export { DispatchQueue, type DispatchSource } from './dispatch-queue.js';
