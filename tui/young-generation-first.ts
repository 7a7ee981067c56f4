/**
 * Imported first by the securechat processes (tui/cli.ts, tui/start.ts): ES modules run in
 * import order, depth first, so this runs before the top level of any other module. Called after
 * the imports instead, V8's young generation had already grown while the client's modules loaded
 * (core/transfer/young-generation.ts says why it must stay small).
 */
import { keepYoungGenerationSmall } from './core/transfer/young-generation.js';

keepYoungGenerationSmall();
