/** One-line, human-readable descriptions of totem datagrams for traces and test messages. */
import { MessageType, decodeMessage, formatRingId } from '../../src/totem/wire/index.js';

export function describeDatagram(bytes: Buffer): string {
  const r = decodeMessage(bytes);
  if (!r.ok) return `MALFORMED(${r.code}) len=${bytes.length}`;
  const m = r.value;
  switch (m.type) {
    case MessageType.OrfToken:
      return (
        `ORF_TOKEN nodeid=${m.nodeid} seq=${m.seq} token_seq=${m.tokenSeq} aru=${m.aru} aru_addr=${m.aruAddr} ` +
        `ring=${formatRingId(m.ringId)} backlog=${m.backlog} fcc=${m.fcc} retrans_flg=${m.retransFlg} ` +
        `rtr=[${m.rtrList.map((x) => x.seq).join(',')}]`
      );
    case MessageType.Mcast:
      return (
        `MCAST nodeid=${m.nodeid} enc=${m.encapsulated} from=${m.systemFrom} seq=${m.seq} ` +
        `ring=${formatRingId(m.ringId)} len=${bytes.length}` +
        (m.inner
          ? ` inner{from=${m.inner.nodeid} seq=${m.inner.seq} ring=${formatRingId(m.inner.ringId)}}`
          : '')
      );
    case MessageType.MembJoin:
      return `MEMB_JOIN nodeid=${m.nodeid} from=${m.systemFrom} ring_seq=${m.ringSeq} proc=[${m.procList}] failed=[${m.failedList}]`;
    case MessageType.MembCommitToken:
      return (
        `COMMIT_TOKEN nodeid=${m.nodeid} token_seq=${m.tokenSeq} ring=${formatRingId(m.ringId)} ` +
        `memb_index=${m.membIndex} addr=[${m.addr}] memb=[${m.membList
          .map((e) => `{${formatRingId(e.ringId)} aru=${e.aru} hd=${e.highDelivered} rf=${e.receivedFlg}}`)
          .join(' ')}]`
      );
    case MessageType.MembMergeDetect:
      return `MERGE_DETECT nodeid=${m.nodeid} from=${m.systemFrom} ring=${formatRingId(m.ringId)}`;
    case MessageType.TokenHoldCancel:
      return `TOKEN_HOLD_CANCEL nodeid=${m.nodeid} ring=${formatRingId(m.ringId)}`;
  }
}
