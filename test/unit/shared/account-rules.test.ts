import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkLoginPassword, passwordChars, validateNewPassword, validateRegistration } from '../../../shared/account-rules.js';
import { DEFAULT_LIMITS } from '../../../shared/limits.js';
import { RESERVED_USER_NAMES, isReservedUserName, validateNewUserName, validateUserName } from '../../../shared/names.js';
import { thrownCode } from '../../helpers/errors.js';

const limits = { minPasswordChars: 8, maxPasswordChars: 16 };

test('passwordChars counts code points, not UTF-16 units', () => {
  assert.is(passwordChars(''), 0);
  assert.is(passwordChars('abc'), 3);
  assert.is(passwordChars('😀😀'), 2); // 4 UTF-16 units
  assert.is(passwordChars('é'), 1);
});

test('new passwords: bounds inclusive on both sides, in code points', () => {
  assert.is(thrownCode(() => validateNewPassword('a'.repeat(7), limits)), 'E_WEAK_PASSWORD');
  assert.is(validateNewPassword('a'.repeat(8), limits), 'a'.repeat(8));
  assert.is(validateNewPassword('a'.repeat(16), limits), 'a'.repeat(16));
  assert.is(thrownCode(() => validateNewPassword('a'.repeat(17), limits)), 'E_PASSWORD_TOO_LONG');
  // 16 emoji are 32 UTF-16 units but 16 characters: allowed; 17 are not.
  assert.is(validateNewPassword('😀'.repeat(16), limits), '😀'.repeat(16));
  assert.is(thrownCode(() => validateNewPassword('😀'.repeat(17), limits)), 'E_PASSWORD_TOO_LONG');
  // 7 emoji are 14 units but 7 characters: too short.
  assert.is(thrownCode(() => validateNewPassword('😀'.repeat(7), limits)), 'E_WEAK_PASSWORD');
});

test('login passwords: only the upper bound (short ones are left to the hash)', () => {
  checkLoginPassword('', limits);
  checkLoginPassword('x', limits);
  checkLoginPassword('a'.repeat(16), limits);
  checkLoginPassword('😀'.repeat(16), limits);
  assert.is(thrownCode(() => checkLoginPassword('a'.repeat(17), limits)), 'E_PASSWORD_TOO_LONG');
  assert.is(thrownCode(() => checkLoginPassword('a'.repeat(2_000), DEFAULT_LIMITS)), 'E_PASSWORD_TOO_LONG');
  checkLoginPassword('a'.repeat(DEFAULT_LIMITS.maxPasswordChars), DEFAULT_LIMITS);
});

test('reserved names: whole names, any case; others and lookalikes with more characters are fine', () => {
  for (const name of ['global', 'Global', 'GLOBAL', 'relay', 'Server', 'system', 'securechat', 'admin', 'Administrator', 'root', 'operator', 'moderator', 'mod']) {
    assert.ok(isReservedUserName(name), name);
    assert.is(thrownCode(() => validateNewUserName(name)), 'E_BAD_NAME', name);
    // Still a valid name: existing accounts log in, are whispered to, are listed.
    assert.is(validateUserName(name), name);
  }
  for (const name of ['globals', 'global2', 'admin_', 'relay-bot', 'rootbeer', 'join', 'help', 'whisper', 'alice']) {
    assert.not.ok(isReservedUserName(name), name);
    assert.is(validateNewUserName(name), name);
  }
  for (const reserved of RESERVED_USER_NAMES) assert.is(reserved, reserved.toLowerCase(), 'stored in key form');
});

test('registration: the name first, then the password, with the codes of each', () => {
  assert.is(validateRegistration('Alice', 'long enough', limits), 'Alice');
  assert.is(thrownCode(() => validateRegistration('global', 'long enough', limits)), 'E_BAD_NAME');
  assert.is(thrownCode(() => validateRegistration('a b', 'long enough', limits)), 'E_BAD_NAME');
  assert.is(thrownCode(() => validateRegistration(42, 'long enough', limits)), 'E_BAD_NAME');
  assert.is(thrownCode(() => validateRegistration('alice', 'short', limits)), 'E_WEAK_PASSWORD');
  assert.is(thrownCode(() => validateRegistration('alice', 'x'.repeat(2_000), limits)), 'E_PASSWORD_TOO_LONG');
});

test.run();
