/**
 * Imported first by transfer-peer.ts, as tui/young-generation-first.ts is by the securechat
 * processes (their memory is what the peer stands for); BENCH_PEER_DEFAULT_GC=1 leaves V8's
 * defaults, to measure what this saves.
 */
import { keepYoungGenerationSmall } from '../../tui/core/transfer/young-generation.js';

if (process.env.BENCH_PEER_DEFAULT_GC !== '1') keepYoungGenerationSmall();
