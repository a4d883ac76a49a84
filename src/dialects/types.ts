/** The request/response dialects tidegate understands. */
export type Dialect = 'openai-chat' | 'openai-completions' | 'openai-embeddings' | 'anthropic-messages';

/** The two dialects that can be converted into each other. */
export type ChatDialect = 'openai-chat' | 'anthropic-messages';

export const DIALECTS: readonly Dialect[] = [
  'openai-chat', 'openai-completions', 'openai-embeddings', 'anthropic-messages',
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
