import { describe, expect, it } from 'vitest';
import { parseRedisUrl } from '../../src/usage/redis-client.js';

describe('REDIS_URL shapes', () => {
  it('one server: redis:// and rediss:// are handed to the client as they are', () => {
    expect(parseRedisUrl('redis://redis:6379/0')).toEqual({ kind: 'single', url: 'redis://redis:6379/0' });
    expect(parseRedisUrl(' rediss://:pw@cache.example:6380 ')).toEqual({ kind: 'single', url: 'rediss://:pw@cache.example:6380' });
  });

  it('Sentinel: the sentinels, the master name, a database, the password and the sentinels\' own', () => {
    expect(parseRedisUrl('redis+sentinel://s1:26379,s2:26380,10.0.0.3:26381/mymaster')).toEqual({
      kind: 'sentinel', name: 'mymaster', db: 0, auth: {}, tls: false,
      sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }, { host: '10.0.0.3', port: 26381 }],
    });
    expect(parseRedisUrl('rediss+sentinel://gw:p%40ss@[::1]:26379/my%20master/3?sentinel_password=sp')).toEqual({
      kind: 'sentinel', name: 'my master', db: 3, auth: { username: 'gw', password: 'p@ss' }, tls: true, sentinelPassword: 'sp',
      sentinels: [{ host: '::1', port: 26379 }],
    });
    expect(parseRedisUrl('redis+sentinel://:secret@s1:26379/m')).toMatchObject({ auth: { password: 'secret' } });
    expect(parseRedisUrl('redis+sentinel://secret@s1:26379/m')).toMatchObject({ auth: { password: 'secret' } });
  });

  it('the ports default to 26379 (Sentinel) and 6379 (cluster node)', () => {
    expect(parseRedisUrl('redis+sentinel://s1,s2:1234/m')).toMatchObject({ sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 1234 }] });
    expect(parseRedisUrl('redis+cluster://n1,n2')).toMatchObject({ nodes: [{ host: 'n1', port: 6379 }, { host: 'n2', port: 6379 }] });
  });

  it('Cluster: the seed nodes and the password', () => {
    expect(parseRedisUrl('redis+cluster://:pw@n1:7000,n2:7001')).toEqual({
      kind: 'cluster', auth: { password: 'pw' }, tls: false, nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }],
    });
    expect(parseRedisUrl('rediss+cluster://n1:7000/')).toMatchObject({ kind: 'cluster', tls: true });
  });

  it.each([
    ['', 'expected redis://'],
    ['http://redis:6379', 'expected redis://'],
    ['redis://exa mple:6379', 'not a valid redis:// URL'],
    ['redis+sentinel://s1:26379', 'needs the master name'],
    ['redis+sentinel://s1:26379/', 'needs the master name'],
    ['redis+sentinel://s1:26379/m/x', 'must be a number'],
    ['redis+sentinel://s1:26379/m/1/2', 'needs the master name'],
    ['redis+sentinel://s1:0/m', '"s1:0" is not host:port'],
    ['redis+sentinel://s1:x/m', '"s1:x" is not host:port'],
    ['redis+cluster://n1:7000,n2:99999', '"n2:99999" is not host:port'],
    ['redis+cluster://n1:7000,,n2:7001', '"" is not host:port'],
    ['redis+cluster://n1:7000/2', 'no database'],
    ['redis+swarm://n1:7000', 'expected redis://'],
    ['redis+sentinel://s1/m%zz', '%-escape'],
  ])('%j is refused, saying what is wrong', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(message);
  });

  it('a refusal never repeats the password', () => {
    for (const url of ['redis+sentinel://u:hunter2@s1:0/m', 'redis+cluster://:hunter2@n1:0', 'redis://:hunter2@exa mple:1', 'redis+cluster://:hunter2@n1:7000/1', 'redis+cluster://:hunter2%zz@n1']) {
      expect(() => parseRedisUrl(url)).toThrow();
      try {
        parseRedisUrl(url);
      } catch (err) {
        expect((err as Error).message).not.toContain('hunter2');
      }
    }
  });
});
