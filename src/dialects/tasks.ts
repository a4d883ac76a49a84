/**
 * The dialects' pool tasks (run in workers as dist/src/dialects/tasks.js; the main thread's side is offload.ts).
 * Inputs arrive by transfer and go back the same way with the result, so the main thread can recycle them.
 */
import { failed, succeeded, succeededMoving, type TaskOutcome } from '../pool/task.js';
import { convertRequestBody } from './convert-request.js';
import { convertResponseBody } from './convert-response.js';
import { countBodyTokens, type TokenCount } from './count-tokens.js';
import type { ConvertInput, ConvertOutput, CountInput, SummarizeInput, SummarizeOutput } from './offload.js';
import { summarizeRequest } from './summarize.js';

/** A Buffer that owns its whole ArrayBuffer, so moving it never takes anything else with it. */
function ownedBuffer(buf: Buffer): Buffer {
  if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) return buf;
  const copy = Buffer.allocUnsafeSlow(buf.byteLength);
  buf.copy(copy);
  return copy;
}

export function summarize(input: SummarizeInput): TaskOutcome<SummarizeOutput> {
  let summary;
  try {
    summary = summarizeRequest(input.dialect, input.body, input.sessionField);
  } catch (err) {
    return failed(err);
  }
  return succeededMoving<SummarizeOutput>({ summary, body: input.body }, [input.body.buffer]);
}

function converted(out: Buffer, input: Uint8Array): TaskOutcome<ConvertOutput> {
  if (out.buffer === input.buffer) return succeededMoving<ConvertOutput>({ body: out, input: null }, [out.buffer]);
  const owned = ownedBuffer(out);
  return succeededMoving<ConvertOutput>({ body: owned, input }, [owned.buffer, input.buffer]);
}

export function convertRequest(input: ConvertInput): TaskOutcome<ConvertOutput> {
  try {
    return converted(convertRequestBody(input.from, input.to, input.body, input.inUrl), input.body);
  } catch (err) {
    return failed(err);
  }
}

export function convertResponse(input: ConvertInput): TaskOutcome<ConvertOutput> {
  try {
    return converted(convertResponseBody(input.from, input.to, input.body), input.body);
  } catch (err) {
    return failed(err);
  }
}

/** Counts tokens here: each worker builds its tokenizer once, off the main thread. */
export async function countTokens(input: CountInput): Promise<TaskOutcome<TokenCount>> {
  try {
    return succeeded(await countBodyTokens(input.dialect, input.body, input.model));
  } catch (err) {
    return failed(err);
  }
}
