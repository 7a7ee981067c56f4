/**
 * The rules an account's credentials must meet, in one place for every path that takes them:
 * the wire `register` and `login` (relay/host.ts), `relay user add` and `relay user passwd`
 * (relay/cli.ts), and any client that wants to check before it sends.
 *
 * Pure: no I/O. Lengths count Unicode code points (what a person counts as characters), not
 * UTF-16 units or bytes.
 */
import { ChatError } from './errors.js';
import type { Limits } from './limits.js';
import { validateNewUserName } from './names.js';

export type PasswordLimits = Pick<Limits, 'minPasswordChars' | 'maxPasswordChars'>;

/** Length of a password in code points. */
export function passwordChars(password: string): number {
  let count = 0;
  for (const _ of password) count += 1;
  return count;
}

/**
 * A password given at login: only the upper bound applies (a short one may predate a raised
 * minimum, and the hash decides anyway). Refused before any hashing, so an over-long password
 * costs one length count. E_PASSWORD_TOO_LONG.
 */
export function checkLoginPassword(password: string, limits: PasswordLimits): void {
  // Cheap first test: code points <= UTF-16 units, so a short string needs no counting.
  if (password.length > limits.maxPasswordChars && passwordChars(password) > limits.maxPasswordChars) {
    throw new ChatError('E_PASSWORD_TOO_LONG', `passwords may have at most ${limits.maxPasswordChars} characters`);
  }
}

/** A password for a new account or a password change: E_PASSWORD_TOO_LONG, E_WEAK_PASSWORD. */
export function validateNewPassword(password: string, limits: PasswordLimits): string {
  checkLoginPassword(password, limits);
  if (passwordChars(password) < limits.minPasswordChars) {
    throw new ChatError('E_WEAK_PASSWORD', `passwords need at least ${limits.minPasswordChars} characters`);
  }
  return password;
}

/**
 * A new account's name and password: E_BAD_NAME (invalid or reserved name), then the password
 * rules. Returns the name as given (its case is kept for display).
 */
export function validateRegistration(user: unknown, password: string, limits: PasswordLimits): string {
  const name = validateNewUserName(user);
  validateNewPassword(password, limits);
  return name;
}
