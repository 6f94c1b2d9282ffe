import { CronExpressionParser } from 'cron-parser';

export const DEFAULT_PERIOD_CRON = '0 0 * * *';

/**
 * Why the expression is unusable as a period boundary, or null when it is fine. Only the classic
 * five fields are accepted (the first version's format); a schedule that never fires (31 February)
 * would make a quota that never resets, so it is refused as well.
 */
export function cronProblem(expr: string, tz: string): string | null {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5) return `expected 5 cron fields (minute hour day month weekday), got ${fields.length}`;
  try {
    const it = CronExpressionParser.parse(expr, { tz, strict: false });
    it.next();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
