// Types of belvo-mock's Node helper (index.js / index.mjs): starting the fake, its /_mock
// control plane, and the webhook receiver.

/** Options of {@link startBelvoMock}. */
export interface StartOptions {
  /** Path of the belvo-mock executable (default: BELVO_MOCK_BINARY, else the platform package). */
  binary?: string;
  /** Extra CLI arguments, after the ones the helper passes (e.g. `['--mfa', 'never']`). */
  args?: string[];
  /** Secret id of the key pair (default `sandbox-secret-id`). */
  secretId?: string;
  /** Secret password of the key pair (default `sandbox-secret-password`). */
  secretPassword?: string;
  /** Seconds between an event and its webhook (virtual time; default 0). */
  webhookDelay?: number;
  /** Use an already-running fake at this base URL instead of spawning one; stop() then kills nothing. */
  url?: string;
  /**
   * Extra environment for the child. The inherited environment loses every BELVO_SECRET_* and
   * BELVO_MOCK_* variable (so real keys or a data dir are never picked up); these are kept, except
   * BELVO_SECRET_PASSWORD, which is always `secretPassword`. `BELVO_MOCK_FIXTURES` or
   * `BELVO_MOCK_NO_FIXTURES` here (non-empty) stops the helper from adding `--no-fixtures`.
   */
  env?: Record<string, string>;
  /** Milliseconds to wait for the fake to be listening (default 10000). */
  startTimeout?: number;
}

/** `GET /_mock/clock`, `POST /_mock/clock/advance`. */
export interface Clock {
  now: string;
  offset_seconds: number;
}

/** `PUT /_mock/webhook`. */
export interface WebhookConfig {
  url: string | null;
  authorization: string | null;
}

/** The body Belvo POSTs to a webhook URL. */
export interface WebhookPayload {
  webhook_id: string;
  webhook_type: string;
  webhook_code: string;
  process_type?: string;
  link_id: string;
  request_id?: string;
  external_id: string | null;
  data: Record<string, unknown>;
  [key: string]: unknown;
}

/** One attempt of a delivery. */
export interface DeliveryAttempt {
  number: number;
  at: string;
  url: string;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  response_body: string | null;
}

/** One webhook in the fake's journal (`GET /_mock/webhooks`). */
export interface Delivery {
  webhook_id: string;
  link_id: string;
  webhook_type: string;
  webhook_code: string;
  status: 'pending' | 'delivered' | 'failed' | 'undeliverable';
  created_at: string;
  next_attempt_at: string | null;
  attempts: DeliveryAttempt[];
  payload: WebhookPayload;
}

/** A running (or attached) fake. Control calls reject with an Error having `status` and `body` on a non-2xx. */
export interface BelvoMock {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  url: string;
  /** Process id of the spawned fake (from its ready file); `null` when attached with `url`. */
  pid: number | null;
  secretId: string;
  secretPassword: string;
  /** `BELVO_API_URL`, `BELVO_SECRET_ID`, `BELVO_SECRET_PASSWORD` for the app under test. */
  env: { BELVO_API_URL: string; BELVO_SECRET_ID: string; BELVO_SECRET_PASSWORD: string };
  /** Forget links, sessions, data, deliveries, the webhook URL and the request journal of this key pair. */
  reset(): Promise<void>;
  /** Move the virtual clock forward (MFA sessions expire, scheduled refreshes run). */
  advanceClock(seconds: number): Promise<Clock>;
  /** Where webhooks go, with this Authorization header (`null`: none). */
  setWebhook(url: string | null, authorization?: string | null): Promise<WebhookConfig>;
  /** Send pending deliveries now. */
  flush(): Promise<{ flushed: number }>;
  /** Every delivery, newest first. */
  deliveries(): Promise<Delivery[]>;
  /**
   * `POST /api/token/` with this key pair: a widget access token pair. `link` asks for an
   * update-mode token; other keys (`widget`, `stale_in`, `fetch_resources`, …) go in the body.
   */
  widgetToken(options?: WidgetTokenOptions): Promise<WidgetTokens>;
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link BelvoMock.widgetToken}. */
export interface WidgetTokenOptions {
  /** The link to repair (update mode), sent as `link_id`. */
  link?: string;
  /** Comma-separated scopes (default `read_institutions,write_links`). */
  scopes?: string;
  [field: string]: unknown;
}

/** The answer of `POST /api/token/`: two HS512 JWTs. */
export interface WidgetTokens {
  access: string;
  refresh: string;
}

/** An error thrown by a control call on a non-2xx answer. */
export interface ControlError extends Error {
  status: number;
  body: string;
}

/** Options of {@link startWebhookReceiver}. */
export interface WebhookReceiverOptions {
  /** Port on 127.0.0.1 (default 0: a free one). */
  port?: number;
}

/** One POST the receiver got. */
export interface ReceivedWebhook {
  headers: Record<string, string | string[] | undefined>;
  body: WebhookPayload;
}

/** A local webhook endpoint that answers 200 to every POST with a JSON body. */
export interface WebhookReceiver {
  /** `http://127.0.0.1:PORT/webhooks` (any path is accepted). */
  url: string;
  /** Everything received, in arrival order. */
  received: ReceivedWebhook[];
  /**
   * Resolves, once at least `count` webhooks arrived, with the payloads of the first `count` in
   * arrival order (not every one received so far: see `received`); rejects after `timeoutMs`
   * (default 5000).
   */
  waitFor(count: number, timeoutMs?: number): Promise<WebhookPayload[]>;
  close(): Promise<void>;
}

/** Start a fake on a free loopback port (or attach to `options.url`). */
export function startBelvoMock(options?: StartOptions): Promise<BelvoMock>;
/** Start a webhook receiver on 127.0.0.1. */
export function startWebhookReceiver(options?: WebhookReceiverOptions): Promise<WebhookReceiver>;
/** The belvo-mock executable: BELVO_MOCK_BINARY, else the platform package's; throws when neither. */
export function resolveBinary(): string;

