// Logs are for people: one line per event, a level, a component, a message, then key=value pairs.
// `TWILL_LOG_FORMAT=json` (or `setLogFormat('json')`) prints one JSON object per line for machines.

export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

interface Sink {
  write(line: string): void;
}

let minLevel: Level = (process.env['TWILL_LOG_LEVEL'] as Level | undefined) ?? 'info';
let format: 'text' | 'json' = process.env['TWILL_LOG_FORMAT'] === 'json' ? 'json' : 'text';
let sink: Sink = process.stderr;

export function setLogLevel(level: Level): void {
  minLevel = level;
}
export function setLogFormat(f: 'text' | 'json'): void {
  format = f;
}
export function setLogSink(s: Sink): void {
  sink = s;
}

function fmtValue(v: unknown): string {
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === 'string') return /^[\w./:@-]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

export class Logger {
  constructor(
    readonly component: string,
    private readonly base: Fields = {},
  ) {}

  child(component: string, fields: Fields = {}): Logger {
    return new Logger(`${this.component}/${component}`, { ...this.base, ...fields });
  }

  with(fields: Fields): Logger {
    return new Logger(this.component, { ...this.base, ...fields });
  }

  debug(msg: string, fields?: Fields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: Fields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: Fields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: Fields): void {
    this.log('error', msg, fields);
  }

  log(level: Level, msg: string, fields: Fields = {}): void {
    if (ORDER[level] < ORDER[minLevel]) return;
    const all = { ...this.base, ...fields };
    const ts = new Date().toISOString();
    if (format === 'json') {
      const o: Fields = { ts, level, component: this.component, msg };
      for (const [k, v] of Object.entries(all)) o[k] = v instanceof Error ? v.message : v;
      sink.write(JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
      return;
    }
    const kv = Object.entries(all)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${fmtValue(v)}`)
      .join(' ');
    sink.write(`${ts} ${level.toUpperCase().padEnd(5)} ${this.component}: ${msg}${kv ? ' ' + kv : ''}\n`);
  }
}

export const rootLogger = new Logger('twill');
