import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorName, explain } from '../../src/errors';

test('code names come from data.code, else from the number', () => {
  assert.equal(errorName({ code: -32013, message: 'x', data: { code: 'PORT_LOCKED' } }), 'PORT_LOCKED');
  assert.equal(errorName({ code: -32013, message: 'x' }), 'PORT_LOCKED');
  assert.equal(errorName({ code: -32012 }), 'FORBIDDEN_BY_POLICY');
  assert.equal(errorName({ code: -32602 }), 'INVALID_ARGUMENT');
  assert.equal(errorName({ code: -32025 }), 'CANCELLED');
  assert.equal(errorName({ code: -1 }), 'UNSPECIFIED');
});

test('a refusal says why and offers the fix', () => {
  const locked = explain({ code: -32013, message: 'PORT_LOCKED: port 8080 of api-0 is held by bob (session 1a2b)', data: { code: 'PORT_LOCKED' } }, { target: 'deploy/api' });
  assert.match(locked.message, /port 8080 of api-0 is held by bob/);
  assert.deepEqual(locked.actions, ['Show Sessions', 'Open Config', 'Pick Another Target']);
  const policy = explain({ code: -32012, message: 'stealing without a filter is forbidden', data: { code: 'FORBIDDEN_BY_POLICY', policy: 'filters-required' } });
  assert.match(policy.message, /policy filters-required/);
  assert.deepEqual(policy.actions, ['Open Config']);
  const bad = explain({ code: -32602, message: 'feature.network.incoming.ports[1]: not a port' });
  assert.match(bad.message, /incoming\.ports\[1\]/);
  assert.deepEqual(bad.actions, ['Open Config']);
  assert.deepEqual(explain({ code: -32015, message: 'no target deploy/nope' }).actions, ['Pick Another Target', 'Open Config']);
  assert.equal(explain({ code: -32025, message: 'cancelled' }).name, 'CANCELLED');
});
