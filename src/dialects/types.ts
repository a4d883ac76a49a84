/** The request/response dialects tidegate understands. */
export type Dialect =
  | 'openai-chat' | 'openai-completions' | 'openai-embeddings' | 'anthropic-messages' | 'openai-responses'
  /** `POST /v1/messages/count_tokens`: a Messages body whose max_tokens is optional. */
  | 'anthropic-count-tokens'
  /** Gemini generateContent / streamGenerateContent and countTokens: the model is in the URL. */
  | 'gemini-generate' | 'gemini-count-tokens';

/** The dialects that convert through the IR (Responses converts from, and its answers to; never as an upstream). */
export type ChatDialect = 'openai-chat' | 'anthropic-messages' | 'openai-responses' | 'gemini-generate';

export const DIALECTS: readonly Dialect[] = [
  'openai-chat', 'openai-completions', 'openai-embeddings', 'anthropic-messages', 'openai-responses',
  'anthropic-count-tokens', 'gemini-generate', 'gemini-count-tokens',
];

/** What routing needs from a request body; everything else stays in the Buffer. */
export interface RequestSummary {
  readonly model: string;
  readonly stream: boolean;
  /** Value of the configured session field (dotted path), or null. */
  readonly sessionId: string | null;
  /** Chat messages (system prompt not counted), prompts for completions, inputs for embeddings. */
  readonly messageCount: number;
  /** Rough count: text characters / 4, rounded up. Good enough for balancing, not for billing. */
  readonly estimatedPromptTokens: number;
}

/** JSON values as they come out of JSON.parse. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };
