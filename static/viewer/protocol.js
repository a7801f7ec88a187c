// Browser wire format (docs/viewer-protocol.md): every WebSocket message is binary,
//   u16 BE header length | UTF-8 JSON header (an object with "op") | payload bytes.
// Sans-IO: encode() gives bytes, decode() gives {header, payload}; no sockets here.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const MAX_HEADER = 65535;

export function encode(header, payload) {
  const head = encoder.encode(JSON.stringify(header));
  if (head.length > MAX_HEADER) throw new RangeError("header too large");
  const body = payload ? new Uint8Array(payload.buffer ?? payload, payload.byteOffset ?? 0, payload.byteLength) : null;
  const out = new Uint8Array(2 + head.length + (body ? body.length : 0));
  out[0] = head.length >> 8;
  out[1] = head.length & 0xff;
  out.set(head, 2);
  if (body) out.set(body, 2 + head.length);
  return out;
}

export function decode(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 2) throw new Error("message shorter than its length prefix");
  const headLen = (bytes[0] << 8) | bytes[1];
  if (2 + headLen > bytes.length) throw new Error("header length past the end of the message");
  const header = JSON.parse(decoder.decode(bytes.subarray(2, 2 + headLen)));
  if (typeof header !== "object" || header === null || typeof header.op !== "string") {
    throw new Error("header is not an object with an op");
  }
  return { header, payload: bytes.subarray(2 + headLen) };
}
