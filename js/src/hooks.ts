// Checks the signature of a request Rampart sends to a backend hook
// (connect, subscribe, publish, notify): the Rampart-Signature header,
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">", with the key
// the operator gave Rampart in hooks.key_env or hooks.key_file. Uses only
// Web Crypto, so it runs in Node 20+ and other runtimes that have it.
//
//   import { verifyHookRequest } from '@rampart/client/hooks';
//   await verifyHookRequest(req.headers['rampart-signature'], rawBody, process.env.RAMPART_HOOKS_KEY);

/** The header that carries the signature (lower case, as Node gives it). */
export const SIGNATURE_HEADER = 'rampart-signature';

/** How far, in seconds, a request's timestamp may be from now, either way. */
export const WINDOW_SECONDS = 300;

/** Why a signature was refused. */
export type HookSignatureReason = 'no_signature' | 'expired' | 'bad_signature';

/** A refused signature; reason says why. */
export class HookSignatureError extends Error {
  readonly reason: HookSignatureReason;
  constructor(reason: HookSignatureReason) {
    super(`rampart hook signature refused: ${reason}`);
    this.name = 'HookSignatureError';
    this.reason = reason;
  }
}

/** Options of verifyHookRequest. */
export interface VerifyOptions {
  /** The time to check against, in unix seconds; default now. */
  now?: number;
  /** The replay window in seconds; default WINDOW_SECONDS. */
  windowSeconds?: number;
}

const encoder = new TextEncoder();

function bytes(v: string | Uint8Array): Uint8Array<ArrayBuffer> {
  if (typeof v === 'string') return encoder.encode(v);
  const out = new Uint8Array(v.byteLength);
  out.set(v);
  return out;
}

function parseHeader(header: string): { t: string; sigs: string[] } | null {
  if (header.length > 1024) return null;
  const parts = header.split(',');
  if (parts.length > 8) return null;
  let t = '';
  const sigs: string[] = [];
  for (const part of parts) {
    const i = part.indexOf('=');
    const k = (i < 0 ? part : part.slice(0, i)).trim();
    const v = i < 0 ? '' : part.slice(i + 1);
    if (k === 't') t = v;
    else if (k === 'v1') sigs.push(v);
  }
  return t !== '' && sigs.length > 0 ? { t, sigs } : null;
}

function fromHex(s: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[0-9a-f]{64}$/.test(s)) return null; // only the form the server writes
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Resolves when header is a valid Rampart-Signature of body under key
 * (the raw body bytes as received: check before parsing them), with a
 * timestamp within the replay window; rejects with a HookSignatureError
 * otherwise. The comparison is Web Crypto's verify, in constant time.
 */
export async function verifyHookRequest(
  header: string | string[] | null | undefined,
  body: string | Uint8Array,
  key: string | Uint8Array,
  opts: VerifyOptions = {},
): Promise<void> {
  const parsed = typeof header === 'string' ? parseHeader(header) : null;
  if (!parsed || !/^[1-9][0-9]{0,15}$/.test(parsed.t)) throw new HookSignatureError('no_signature');
  const now = opts.now ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(parsed.t)) > (opts.windowSeconds ?? WINDOW_SECONDS)) throw new HookSignatureError('expired');
  const k = await crypto.subtle.importKey('raw', bytes(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const b = bytes(body);
  const signed = new Uint8Array(parsed.t.length + 1 + b.length);
  signed.set(encoder.encode(parsed.t + '.'));
  signed.set(b, parsed.t.length + 1);
  for (const sig of parsed.sigs) {
    const mac = fromHex(sig);
    if (mac && await crypto.subtle.verify('HMAC', k, mac, signed)) return;
  }
  throw new HookSignatureError('bad_signature');
}
