// Compile-only check that an ESM TypeScript consumer (node16 resolution, `import` condition) sees
// the same declarations: named imports, type-only imports and the default import.
import helper, { startBelvoMock, startWebhookReceiver, type BelvoMock, type WebhookReceiver } from 'belvo-mock';

export async function esmConsumer(): Promise<void> {
  const mock: BelvoMock = await startBelvoMock({ webhookDelay: 0.5 });
  const receiver: WebhookReceiver = await helper.startWebhookReceiver({ port: 0 });
  await mock.setWebhook(receiver.url);
  void startWebhookReceiver;
  await mock.stop();
  await receiver.close();
}
