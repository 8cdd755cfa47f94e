// Compile-only check of belvo-mock's index.d.ts (test.sh runs tsc --noEmit on it in the test
// project): the documented calls type-check and the result types are what the README says.
import { startBelvoMock, startWebhookReceiver, resolveBinary } from 'belvo-mock';
import type { BelvoMock, Clock, Delivery, StartOptions, WebhookPayload, WebhookReceiver, WidgetTokens } from 'belvo-mock';

async function main(): Promise<void> {
  const options: StartOptions = {
    binary: resolveBinary(),
    args: ['--mfa', 'never'],
    secretId: 'id',
    secretPassword: 'pw',
    webhookDelay: 0,
    env: { RUST_BACKTRACE: '1' },
    startTimeout: 10_000,
  };
  const mock: BelvoMock = await startBelvoMock(options);
  const attached = await startBelvoMock({ url: mock.url });
  const receiver: WebhookReceiver = await startWebhookReceiver();
  const apiUrl: string = mock.env.BELVO_API_URL;
  const pid: number | null = mock.pid;
  await mock.setWebhook(receiver.url, 'Bearer x');
  await mock.setWebhook(null);
  const clock: Clock = await mock.advanceClock(121);
  const flushed: number = (await mock.flush()).flushed;
  const deliveries: Delivery[] = await mock.deliveries();
  const status: 'pending' | 'delivered' | 'failed' | 'undeliverable' = deliveries[0].status;
  const payloads: WebhookPayload[] = await receiver.waitFor(2, 5000);
  const total: unknown = payloads[0].data.total_owners;
  const auth = receiver.received[0].headers.authorization;
  const tokens: WidgetTokens = await mock.widgetToken({ link: 'a-link-id', stale_in: '30d' });
  const access: string = (await mock.widgetToken()).access;
  await mock.reset();
  await attached.stop();
  await mock.stop();
  await receiver.close();
  void [apiUrl, pid, clock.offset_seconds, flushed, status, total, auth, tokens.refresh, access];
}

void main;
