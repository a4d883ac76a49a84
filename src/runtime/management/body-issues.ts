import type { ConfigIssue } from '../../errors.js';

export type Section = 'users' | 'services';

/** Issues of the changed item by the body's own paths (`quota.bytes`); others keep their config path. */
export function bodyIssues(
  issues: readonly ConfigIssue[], doc: Record<string, unknown>, section: Section | null, name: string | null,
): ConfigIssue[] {
  if (section === null) return [...issues];
  const at = indexOf(doc, section, name);
  if (at === -1) return [...issues];
  const prefix = `${section}[${at}]`;
  return issues.map((issue) => {
    if (issue.path === prefix) return { path: '', message: issue.message };
    if (issue.path.startsWith(`${prefix}.`)) {
      return { path: issue.path.slice(prefix.length + 1), message: issue.message };
    }
    return issue;
  });
}

/** Where the item named `name` is in the document's `section` list (the last one of that name), or -1. */
export function indexOf(doc: Record<string, unknown>, section: Section, name: string | null): number {
  const list = Array.isArray(doc[section]) ? (doc[section] as unknown[]) : [];
  const nameKey = section === 'users' ? 'id' : 'name';
  for (let i = list.length - 1; i >= 0; i--) {
    const item = list[i] as Record<string, unknown> | null;
    if (item !== null && typeof item === 'object' && item[nameKey] === name) return i;
  }
  return -1;
}
