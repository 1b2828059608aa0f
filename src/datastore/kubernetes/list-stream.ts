// A list answer read as it arrives, one item at a time. A page of 500 pods is about a megabyte of
// JSON: as one string it lands in V8's large-object space, which only a full mark-compact frees,
// and its parsed tree (every field the apiserver defaults, managedFields) lives until the whole
// page is decoded. At start-up V8 runs no full collection for many seconds, so 60 such pages were
// ~35 MB of the agent's peak RSS. Here each item is parsed from its own short string and decoded
// before the next: the garbage stays young and dies in the scavenger.
//
// The scanner follows JSON's structure byte by byte (strings, escapes, nesting) only far enough to
// find the elements of the top-level "items" array; everything else of the answer (kind,
// metadata with resourceVersion and continue) is kept and parsed at the end, with "items": [].
//
// An item's metadata.managedFields (server-side apply's field ownership: a third to two fifths of
// a Service's or an EndpointSlice's JSON, and many small objects) is cut out before parsing: the
// array is replaced by `0`, which no decoder reads. The scanner already walks those bytes; JSON.parse
// then neither builds nor collects them. Keys are compared where they lie in the chunk; a key cut
// across two chunks is not recognised, and its value is then parsed as before (never wrong, only
// slower).

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJ = 0x7b;
const CLOSE_OBJ = 0x7d;
const OPEN_ARR = 0x5b;
const CLOSE_ARR = 0x5d;
const COMMA = 0x2c;
const ITEMS_KEY = Buffer.from('items');
const METADATA_KEY = Buffer.from('metadata');
const MANAGED_FIELDS_KEY = Buffer.from('managedFields');
const CUT_VALUE = Buffer.from('0');

/** Whether chunk[from, to) holds exactly `key`'s bytes. */
const isKey = (chunk: Buffer, from: number, to: number, key: Buffer): boolean => to - from === key.length && chunk.compare(key, 0, key.length, from, to) === 0;

export class ListScanner {
  private depth = 0;
  private inString = false;
  private escape = false;
  /** Bytes of the string being read at depth 1 (a key, perhaps "items"). */
  private key: Buffer[] | undefined;
  private lastKey = '';
  /** Inside the top-level "items" array. */
  private inItems = false;
  /** The parts of the item being read (it may span chunks). */
  private item: Buffer[] | undefined;
  /** The answer without its items' contents. */
  private readonly head: Buffer[] = [];
  /** Where in the current chunk the string being read began (-1: in an earlier chunk). */
  private strFrom = -1;
  /** The last key read at an item's top level was "metadata"; inside that object. */
  private lastItemKeyMeta = false;
  private inMeta = false;
  /** The last key read in an item's metadata was "managedFields". */
  private lastMetaKeyManaged = false;
  /** Inside the managedFields value being cut out of the item. */
  private cutting = false;

  constructor(private readonly onItem: (text: string) => void) {}

  push(chunk: Buffer): void {
    let itemFrom = this.item && !this.cutting ? 0 : -1;
    this.strFrom = -1;
    let headFrom = this.inItems ? -1 : 0;
    let keyFrom = this.key ? 0 : -1;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      if (this.inString) {
        // Jump to the next quote that is not escaped (native search: most bytes are in strings).
        if (this.escape) {
          this.escape = false;
          continue;
        }
        const q = chunk.indexOf(QUOTE, i);
        if (q === -1) {
          this.escape = trailingEscape(chunk, i, n);
          break;
        }
        if (trailingEscape(chunk, i, q)) {
          i = q;
          continue;
        }
        i = q;
        this.inString = false;
        if (this.inItems && this.depth === 3) this.lastItemKeyMeta = this.strFrom >= 0 && isKey(chunk, this.strFrom, q, METADATA_KEY);
        else if (this.inMeta && this.depth === 4) this.lastMetaKeyManaged = this.strFrom >= 0 && isKey(chunk, this.strFrom, q, MANAGED_FIELDS_KEY);
        if (this.key) {
          this.key.push(chunk.subarray(keyFrom, i));
          this.lastKey = ITEMS_KEY.equals(Buffer.concat(this.key)) ? 'items' : '';
          this.key = undefined;
          keyFrom = -1;
        }
        continue;
      }
      const b = chunk[i]!;
      if (this.inItems && this.depth === 2 && b > 0x20 && b !== OPEN_OBJ && b !== OPEN_ARR && b !== CLOSE_ARR && b !== COMMA) {
        throw new SyntaxError('an element of the list\'s items is not an object');
      }
      if (b === QUOTE) {
        this.inString = true;
        this.strFrom = i + 1;
        if (this.depth === 1) {
          this.key = [];
          keyFrom = i + 1;
        }
      } else if (b === OPEN_OBJ || b === OPEN_ARR) {
        if (this.depth === 4 && this.inMeta && b === OPEN_ARR && this.lastMetaKeyManaged && !this.cutting) {
          // Cut the managedFields array out: the item so far, then `0` in its place.
          this.item!.push(chunk.subarray(itemFrom, i), CUT_VALUE);
          itemFrom = -1;
          this.cutting = true;
        }
        if (this.depth === 3 && this.inItems) this.inMeta = b === OPEN_OBJ && this.lastItemKeyMeta;
        this.depth++;
        if (this.depth === 2 && b === OPEN_ARR && this.lastKey === 'items') {
          this.inItems = true;
          this.head.push(chunk.subarray(headFrom, i + 1));
          headFrom = -1;
        } else if (this.depth === 3 && this.inItems) {
          this.item = [];
          itemFrom = i;
        }
      } else if (b === CLOSE_OBJ || b === CLOSE_ARR) {
        if (this.cutting && this.depth === 5) {
          this.cutting = false;
          itemFrom = i + 1;
        } else if (this.depth === 4) this.inMeta = false;
        if (this.depth === 3 && this.item) {
          this.item.push(chunk.subarray(itemFrom, i + 1));
          const parts = this.item;
          this.item = undefined;
          itemFrom = -1;
          this.onItem((parts.length === 1 ? parts[0]! : Buffer.concat(parts)).toString('utf8'));
        } else if (this.depth === 2 && this.inItems) {
          this.inItems = false;
          headFrom = i;
        }
        this.depth--;
      }
    }
    if (this.key && keyFrom >= 0) this.key.push(chunk.subarray(keyFrom));
    if (this.item && itemFrom >= 0) this.item.push(chunk.subarray(itemFrom));
    if (headFrom >= 0) this.head.push(chunk.subarray(headFrom));
  }

  /** The answer's own fields (kind, metadata…), parsed, with `items` emptied. */
  end(): Record<string, unknown> {
    if (this.depth !== 0 || this.inString) throw new SyntaxError('the list answer ended in the middle of its JSON');
    return JSON.parse(Buffer.concat(this.head).toString('utf8')) as Record<string, unknown>;
  }
}

/** Whether chunk[from, to) ends in an odd run of backslashes (the next byte is escaped). */
function trailingEscape(chunk: Buffer, from: number, to: number): boolean {
  let k = to - 1;
  while (k >= from && chunk[k] === BACKSLASH) k--;
  return (to - 1 - k) % 2 === 1;
}
