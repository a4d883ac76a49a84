import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_TOKENS_UNSAID, maxOutputTokens } from '../../src/gateway/limits/max-tokens.js';

const cap = (body: unknown): number => maxOutputTokens(Buffer.from(JSON.stringify(body)));

describe('spend: the output cap a reservation counts', () => {
  it('reads each dialect\'s key wherever it stands, else the unsaid default', () => {
    assert.equal(cap({ model: 'm', max_tokens: 77, messages: [] }), 77);
    assert.equal(cap({ model: 'm', messages: [], max_completion_tokens: 1234 }), 1234);
    assert.equal(cap({ model: 'm', input: 'x', max_output_tokens: 9 }), 9);
    assert.equal(cap({ contents: [], generationConfig: { maxOutputTokens: 50 } }), 50);
    assert.equal(maxOutputTokens(Buffer.from('{"max_tokens" :\n 12}')), 12);
    // A "max_" that is not a cap (a tool's parameter name, a non-number) is passed over.
    assert.equal(cap({ tools: [{ name: 'max_items' }], max_tokens: 5 }), 5);
    assert.equal(cap({ max_tokens: null, messages: [{ content: '"max_tokens": 3' }] }), MAX_TOKENS_UNSAID);
    assert.equal(cap({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }), MAX_TOKENS_UNSAID);
  });
});
