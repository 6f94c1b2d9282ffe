import type { Logger } from '../observability/logger.js';
import type { KeyRecordStore } from '../usage/key-records.js';
import { hashSecret, keyState, newKeyId, newSecret, parseRecord, type KeyRecord } from './record.js';
import type { KeySettings } from './validate.js';

/** How often an instance asks the shared store whether keys changed: a revoked key is refused everywhere within a second. */
const SYNC_MS = 250;
/** The most keys a gateway keeps (each is held in memory on every instance). */
export const MAX_KEYS = 10_000;
/** Secrets remembered in memory (only those of existing keys), each with its record. */
const RECENT_SECRETS = 1024;

export type Authenticated = { ok: true; key: KeyRecord } | { ok: false; why: 'unknown' | 'revoked' | 'expired' | 'not loaded' };

/**
 * Every virtual key, held in memory by the hash of its secret, so checking a request's key
 * costs one SHA-256 and one map lookup. The usage store has the truth: this instance's own
 * writes apply at once, the other instances' when the store's version changes (polled).
 */
export class Keys {
  private byHash = new Map<string, KeyRecord>();
  private byId = new Map<string, KeyRecord>();
  /** Secrets seen lately that name a key, so a busy key is not hashed on every request; emptied on every change. */
  private recent = new Map<string, KeyRecord>();
  private version = -1;
  private loaded = false;
  private timer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> | null = null;

  constructor(
    private readonly store: KeyRecordStore,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {}

  /** Loads the keys and, with a shared store, keeps watching for changes. */
  async start(shared: boolean): Promise<void> {
    await this.sync().catch(() => undefined);
    if (!shared) return;
    this.timer = setInterval(() => void this.sync().catch(() => undefined), SYNC_MS);
    this.timer.unref();
  }

  /** Whether the keys could be read yet: until then only the master key is known. */
  get ready(): boolean {
    return this.loaded;
  }

  /** Once any key exists (revoked ones too), every `/v1/*` request needs a key. */
  get any(): boolean {
    return this.byId.size > 0;
  }

  authenticate(secret: string | null): Authenticated {
    if (!this.loaded) return { ok: false, why: 'not loaded' };
    if (secret === null || secret.length > 512) return { ok: false, why: 'unknown' };
    let key = this.recent.get(secret);
    if (!key) {
      key = this.byHash.get(hashSecret(secret));
      if (!key) return { ok: false, why: 'unknown' };
      if (this.recent.size >= RECENT_SECRETS) this.recent.clear();
      this.recent.set(secret, key);
    }
    const state = keyState(key, this.now());
    return state === 'active' ? { ok: true, key } : { ok: false, why: state };
  }

  get(id: string): KeyRecord | null {
    return this.byId.get(id) ?? null;
  }

  list(): KeyRecord[] {
    return [...this.byId.values()].sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  /** Whether an active key other than `exceptId` has this name (names label metrics, so they are unique). */
  nameTaken(name: string, exceptId: string | null): boolean {
    for (const k of this.byId.values()) if (k.name === name && k.id !== exceptId && k.revoked_at === null) return true;
    return false;
  }

  get count(): number {
    return this.byId.size;
  }

  /** Makes a key: the record is stored, the secret returned (and kept nowhere). */
  async create(s: KeySettings): Promise<{ key: KeyRecord; secret: string }> {
    const secret = newSecret();
    const at = new Date(this.now()).toISOString();
    const key: KeyRecord = { id: newKeyId(), hash: hashSecret(secret), ...s, created_at: at, updated_at: at, revoked_at: null };
    await this.write(key);
    return { key, secret };
  }

  async update(current: KeyRecord, s: KeySettings): Promise<KeyRecord> {
    const key: KeyRecord = { ...current, ...s, updated_at: new Date(this.now()).toISOString() };
    await this.write(key);
    return key;
  }

  async revoke(current: KeyRecord): Promise<KeyRecord> {
    if (current.revoked_at !== null) return current;
    const at = new Date(this.now()).toISOString();
    const key: KeyRecord = { ...current, revoked_at: at, updated_at: at };
    await this.write(key);
    return key;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async write(key: KeyRecord): Promise<void> {
    await this.store.put(key.id, JSON.stringify(key));
    // A reread that started before this write must not put the old record back over it.
    await this.syncing?.catch(() => undefined);
    this.apply(key);
  }

  private apply(key: KeyRecord): void {
    const old = this.byId.get(key.id);
    if (old) this.byHash.delete(old.hash);
    this.byId.set(key.id, key);
    this.byHash.set(key.hash, key);
    this.recent = new Map();
  }

  /** Rereads every key when the store's version moved (one read while nothing changed). */
  private sync(): Promise<void> {
    this.syncing ??= (async () => {
      try {
        if (this.loaded && await this.store.version() === this.version) return;
        const { version, records } = await this.store.load();
        const byId = new Map<string, KeyRecord>();
        const byHash = new Map<string, KeyRecord>();
        for (const text of records) {
          const k = parseRecord(text);
          if (!k) continue;
          byId.set(k.id, k);
          byHash.set(k.hash, k);
        }
        this.byId = byId;
        this.byHash = byHash;
        this.recent = new Map();
        this.version = version;
        if (!this.loaded) this.logger.info({ keys: byId.size }, `Virtual keys loaded: ${byId.size}`);
        this.loaded = true;
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }
}
