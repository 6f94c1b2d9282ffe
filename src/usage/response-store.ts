/**
 * Stored Responses (SPEC §7): a response and the conversation behind it, kept for a while so a
 * client can read it again or continue from it (`previous_response_id`). Records live beside the
 * usage counters (the same SQLite file, or the same Redis), are readable only by the key that
 * made them (`owner`, a hash of the key), expire, and are bounded in bytes: past the budget the
 * records closest to expiry go first.
 */
export interface ResponseRecordLimits {
  /** Epoch ms at which the record expires. */
  expiresAt: number;
  /** The bytes all records may hold together. */
  maxBytes: number;
}

export interface ResponseStoreStats {
  count: number;
  bytes: number;
}

export interface ResponseStore {
  /** Keeps `body` (a JSON text) under `id`; false when it is larger than the whole budget. */
  put(id: string, owner: string, body: string, limits: ResponseRecordLimits): Promise<boolean>;
  /** The body, or null when unknown, expired, or made by another owner. */
  get(id: string, owner: string): Promise<string | null>;
  /** Deletes the record; false when there was none for this owner. */
  delete(id: string, owner: string): Promise<boolean>;
  stats(): Promise<ResponseStoreStats>;
}
