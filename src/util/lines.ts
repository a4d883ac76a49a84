/** One non-empty line of a list file, its comment cut off and trimmed, with its 1-based line number. */
export interface ContentLine {
  readonly text: string;
  readonly lineNo: number;
}

/**
 * The content lines of a list file (rule sets, GeoIP range lists): split on `\n`, everything from the first match of
 * `comment` on cut off, trimmed (so `\r` goes too), empty lines skipped; line numbers count every line, for errors.
 */
export function* contentLines(text: string, comment: RegExp): Generator<ContentLine> {
  let lineNo = 0;
  let from = 0;
  while (from <= text.length) {
    let nl = text.indexOf('\n', from);
    if (nl === -1) nl = text.length;
    const raw = text.slice(from, nl);
    from = nl + 1;
    lineNo++;
    const cut = raw.search(comment);
    const line = (cut === -1 ? raw : raw.slice(0, cut)).trim();
    if (line.length > 0) yield { text: line, lineNo };
  }
}
