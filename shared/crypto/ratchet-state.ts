/**
 * The JSON form of a Double Ratchet state (for the client's sessions file), bounded and
 * validated on the way in: damaged or oversized state is `E_CORRUPT_FILE`, never a half-loaded
 * session. It holds private keys: the file must be 0600 and, with a passphrase, sealed.
 */
import { z } from 'zod';
import { ChatError } from '../errors.js';
import { RATCHET_LIMITS } from '../limits.js';
import { fromBase64Strict, toBase64 } from './bytes.js';
import type { RatchetState } from './double-ratchet.js';

const key = z.string().length(44);
const counter = z.number().int().min(0).max(RATCHET_LIMITS.maxMessageNumber);
const maxAdChars = Math.ceil(RATCHET_LIMITS.maxAssociatedDataBytes / 3) * 4;

export const RatchetStateJsonSchema = z.object({
  v: z.literal(1),
  dhs: z.object({ publicKey: key, privateKey: key }).strict(),
  dhr: key.nullable(),
  rk: key,
  cks: key.nullable(),
  ckr: key.nullable(),
  ns: counter,
  nr: counter,
  pn: counter,
  /** [ratchet public key, message number, message key] */
  skipped: z.array(z.tuple([key, counter, key])).max(RATCHET_LIMITS.maxSkippedKeys),
  oldChains: z.array(key).max(RATCHET_LIMITS.maxOldChains),
  ad: z.string().min(1).max(maxAdChars),
}).strict();
export type RatchetStateJson = z.infer<typeof RatchetStateJsonSchema>;

const b64 = (bytes: Uint8Array | undefined): string | null => (bytes ? toBase64(bytes) : null);

export function ratchetStateToJson(state: RatchetState): RatchetStateJson {
  const skipped: Array<[string, number, string]> = [];
  for (const [id, mk] of state.skipped) {
    const colon = id.lastIndexOf(':');
    skipped.push([id.slice(0, colon), Number(id.slice(colon + 1)), toBase64(mk)]);
  }
  return {
    v: 1,
    dhs: { publicKey: toBase64(state.dhs.publicKey), privateKey: toBase64(state.dhs.privateKey) },
    dhr: b64(state.dhr),
    rk: toBase64(state.rk),
    cks: b64(state.cks),
    ckr: b64(state.ckr),
    ns: state.ns,
    nr: state.nr,
    pn: state.pn,
    skipped,
    oldChains: [...state.oldChains],
    ad: toBase64(state.ad),
  };
}

function bytes(text: string, length?: number): Uint8Array {
  const out = fromBase64Strict(text, length);
  if (!out) throw corrupt();
  return out;
}

const optional = (text: string | null): Uint8Array | undefined => (text === null ? undefined : bytes(text, 32));

function corrupt(): ChatError {
  return new ChatError('E_CORRUPT_FILE', 'a saved session is damaged');
}

export function ratchetStateFromJson(json: unknown): RatchetState {
  const parsed = RatchetStateJsonSchema.safeParse(json);
  if (!parsed.success) throw corrupt();
  const s = parsed.data;
  const ad = bytes(s.ad);
  if (ad.length === 0 || ad.length > RATCHET_LIMITS.maxAssociatedDataBytes) throw corrupt();
  const state: RatchetState = {
    dhs: { publicKey: bytes(s.dhs.publicKey, 32), privateKey: bytes(s.dhs.privateKey, 32) },
    dhr: optional(s.dhr),
    rk: bytes(s.rk, 32),
    cks: optional(s.cks),
    ckr: optional(s.ckr),
    ns: s.ns,
    nr: s.nr,
    pn: s.pn,
    skipped: new Map(s.skipped.map(([dhr, n, mk]) => [`${toBase64(bytes(dhr, 32))}:${n}`, bytes(mk, 32)])),
    oldChains: s.oldChains.map((k) => toBase64(bytes(k, 32))),
    ad,
  };
  // A receiving chain needs the key it came from (Alice starts with DHr and no CKr, DR §3.3).
  if (state.ckr !== undefined && state.dhr === undefined) throw corrupt();
  return state;
}
