import { CronExpressionParser } from 'cron-parser';

export interface Period {
  /** Epoch ms of the cron firing that started the current period. */
  start: number;
  /** Epoch ms of the next firing: the current period ends there. */
  end: number;
}

/**
 * The period `now` falls in: from the last firing of `cron` at or before `now` to the next
 * one, in the time zone `tz`. Firings are those of forward iteration, which on DST days fires
 * a time that does not exist once (shifted) and a repeated time once; stepping backwards
 * alone would report the repeated hour twice, so it only finds an anchor to iterate from.
 */
export function periodAt(cron: string, tz: string, now: number): Period {
  const back = CronExpressionParser.parse(cron, { tz, currentDate: new Date(now + 1) });
  let anchor = now;
  for (let i = 0; i < 3; i++) anchor = back.prev().getTime();
  const forward = CronExpressionParser.parse(cron, { tz, currentDate: new Date(anchor - 1) });
  let start = anchor;
  let next = forward.next().getTime();
  while (next <= now) {
    start = next;
    next = forward.next().getTime();
  }
  return { start, end: next };
}

/** Periods by provider and cron, recomputed only when one ends. */
export class PeriodCache {
  private readonly byKey = new Map<string, Period>();

  constructor(private readonly tz: string) {}

  get(id: string, cron: string, now: number): Period {
    const key = `${id}\u0000${cron}`;
    const cached = this.byKey.get(key);
    if (cached && now >= cached.start && now < cached.end) return cached;
    const period = periodAt(cron, this.tz, now);
    this.byKey.set(key, period);
    return period;
  }

  clear(): void {
    this.byKey.clear();
  }
}

/** ISO 8601 with the zone's offset, e.g. `2026-11-27T00:00:00+08:00`. */
export function isoWithOffset(epochMs: number, tz: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    }).formatToParts(new Date(epochMs)).map((p) => [p.type, p.value]),
  ) as Record<string, string>;
  const local = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
  const offsetMin = Math.round((local - Math.floor(epochMs / 1000) * 1000) / 60_000);
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  const offset = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}${offset}`;
}
