import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Room, type RoomMember } from '../../../relay/rooms.js';

function member(userName: string, inbox: Buffer[]): RoomMember {
  return { userName, userKey: userName.toLowerCase(), deliver: (frame) => inbox.push(frame) };
}

test('users away for a moment keep the room live (counted) but are sent nothing; who is listed is the bus roster (relay-bus-contract)', () => {
  const room = new Room('dev', [], 10);
  const annInbox: Buffer[] = [];
  room.admit(member('Ann', annInbox));
  room.markAway('bob', 'Bob');
  assert.is(room.size, 2);
  room.broadcast(Buffer.from('x'));
  assert.is(annInbox.length, 1);
  // Back as a member: counted once.
  const bob = member('Bob', []);
  room.admit(bob);
  assert.is(room.size, 2);
  room.back('bob');
  assert.is(room.size, 2);
});

test('release takes out only the current member of a user (an older, replaced connection is a no-op)', () => {
  const room = new Room('dev', [], 10);
  const old = member('Ann', []);
  const current = member('Ann', []);
  room.admit(old);
  room.admit(current);
  assert.is(room.release(old), false);
  assert.is(room.members.get('ann'), current);
  assert.is(room.release(current), true);
  assert.is(room.size, 0);
});

test('an empty room has size 0', () => {
  const room = new Room('dev', [], 10);
  assert.is(room.size, 0);
});

test.run();
