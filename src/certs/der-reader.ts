/** A DER element: its tag, where it starts (the tag byte) and where its contents start and end. */
export interface Tlv {
  tag: number;
  /** Where the tag byte is: `der.subarray(offset, end)` is the whole encoding. */
  offset: number;
  start: number;
  end: number;
}

/** Reads the element at `pos` (definite lengths of up to 4 octets); `tag` checks what it must be. */
export function readTlv(der: Buffer, pos: number, limit: number, tag?: number): Tlv {
  const found = byteAt(der, pos, limit);
  if ((found & 0x1f) === 0x1f) throw new Error('high tag numbers are not used in certificates');
  let length = byteAt(der, pos + 1, limit);
  let start = pos + 2;
  if (length >= 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new Error('unsupported length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + byteAt(der, start + i, limit);
    start += count;
  }
  const end = start + length;
  if (end > limit) throw new Error('truncated');
  if (tag !== undefined && found !== tag) throw new Error(`expected tag ${tag}, found ${found}`);
  return { tag: found, offset: pos, start, end };
}

function byteAt(der: Buffer, pos: number, limit: number): number {
  const value = pos < limit ? der[pos] : undefined;
  if (value === undefined) throw new Error('truncated');
  return value;
}

/** The elements of a constructed value; they must fill it exactly. */
export function children(der: Buffer, parent: Tlv): Tlv[] {
  const items: Tlv[] = [];
  for (let pos = parent.start; pos < parent.end; ) {
    const item = readTlv(der, pos, parent.end);
    items.push(item);
    pos = item.end;
  }
  return items;
}

export function expectTag(tlv: Tlv | undefined, tag: number): Tlv {
  if (tlv === undefined || tlv.tag !== tag) throw new Error(`expected tag ${tag}`);
  return tlv;
}
