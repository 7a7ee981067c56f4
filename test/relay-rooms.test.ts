import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Room, type RoomMember } from '../relay/rooms.js';

function member(userName: string, inbox: Buffer[]): RoomMember {
  return { userName, userKey: userName.toLowerCase(), deliver: (frame) => inbox.push(frame) };
}

test('users away for a moment keep the room live (counted) but are sent nothing; who is listed is the bus roster (relay-bus-contract)', () => {
  const room = new Room('dev', [], 10);
  const annInbox: Buffer[] = [];
  room.members.set('ann', member('Ann', annInbox));
  room.away.set('bob', 'Bob');
  assert.is(room.size, 2);
  room.broadcast(Buffer.from('x'));
  assert.is(annInbox.length, 1);
  // Back as a member: counted once.
  room.members.set('bob', member('Bob', []));
  assert.is(room.size, 2);
});

test('an empty room has size 0', () => {
  const room = new Room('dev', [], 10);
  assert.is(room.size, 0);
});

test.run();
