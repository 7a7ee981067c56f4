import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ChatError } from '../../../../shared/errors.js';
import { configDir, dataDir, knownRelaysFile } from '../../../../tui/core/paths.js';
import { DEFAULT_SERVER, formatServerAddress, parseServerAddress } from '../../../../tui/core/address.js';

const home = '/home/ann';

test('config folder: explicit variable, then XDG, then ~/.config', () => {
  assert.is(configDir({ SECURECHAT_CONFIG_DIR: '/srv/sc' }, home), '/srv/sc');
  assert.is(configDir({ XDG_CONFIG_HOME: '/x/conf' }, home), '/x/conf/securechat');
  assert.is(configDir({ SECURECHAT_CONFIG_DIR: '/a', XDG_CONFIG_HOME: '/b' }, home), '/a');
  assert.is(configDir({}, home), '/home/ann/.config/securechat');
  assert.is(configDir({ XDG_CONFIG_HOME: 'relative/path' }, home), '/home/ann/.config/securechat');
  assert.is(configDir({ SECURECHAT_CONFIG_DIR: '  ' }, home), '/home/ann/.config/securechat');
});

test('data folder: explicit variable, then XDG, then ~/.local/share', () => {
  assert.is(dataDir({ SECURECHAT_DATA_DIR: '/d' }, home), '/d');
  assert.is(dataDir({ XDG_DATA_HOME: '/x/data' }, home), '/x/data/securechat');
  assert.is(dataDir({}, home), '/home/ann/.local/share/securechat');
});

test('known relays live in the config folder', () => {
  assert.is(knownRelaysFile('/c'), '/c/known_relays');
});

test('server addresses', () => {
  assert.equal(parseServerAddress('chat.example.org:7000'), { host: 'chat.example.org', port: 7000 });
  assert.equal(parseServerAddress('chat.example.org'), { host: 'chat.example.org', port: 7443 });
  assert.equal(parseServerAddress('[::1]:9000'), { host: '::1', port: 9000 });
  assert.equal(parseServerAddress('[::1]'), { host: '::1', port: 7443 });
  assert.equal(parseServerAddress('::1'), { host: '::1', port: 7443 });
  assert.equal(parseServerAddress(DEFAULT_SERVER), { host: 'localhost', port: 7443 });
  for (const bad of ['', ':80', 'host:', 'host:0', 'host:70000', 'host:abc', 'a:b:c', 'a b:1', '[nope]:1']) {
    try {
      parseServerAddress(bad);
      assert.unreachable(`"${bad}" was accepted`);
    } catch (error) {
      assert.instance(error, ChatError);
      assert.is((error as ChatError).code, 'E_USAGE');
    }
  }
  assert.is(formatServerAddress({ host: 'Chat.Example.ORG', port: 1 }), 'chat.example.org:1');
  assert.is(formatServerAddress({ host: '::1', port: 2 }), '[::1]:2');
});

test.run();
