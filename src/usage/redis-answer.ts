import { StoreUnavailableError } from './store.js';

/**
 * How long a read, or a write someone waits for, may wait for Redis before the store counts as
 * unavailable (the client's queue would otherwise hold it until Redis is back).
 */
export const ANSWER_TIMEOUT_MS = 2000;

/** `command`'s answer, or StoreUnavailableError when Redis has not answered in ANSWER_TIMEOUT_MS. */
export async function answerSoon<T>(command: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError('redis did not answer')), ANSWER_TIMEOUT_MS);
  });
  try {
    return await Promise.race([command, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
