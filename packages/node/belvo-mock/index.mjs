// belvo-mock's ESM entry: re-exports the CommonJS implementation (index.js), so both module
// systems share one set of live fakes and one exit hook.
import helper from './index.js';

export const { startBelvoMock, startWebhookReceiver, resolveBinary } = helper;
export default helper;
