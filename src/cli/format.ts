// Human output: aligned tables like cinderclient's, or JSON for scripts (--json).
export function table(header: string[], rows: unknown[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '' : typeof c === 'object' ? JSON.stringify(c) : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const sep = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [sep, line(cells[0]), sep, ...cells.slice(1).map(line), sep].join('\n');
}

export function propertyTable(obj: Record<string, unknown>): string {
  return table(['Property', 'Value'], Object.entries(obj).map(([k, v]) => [k, v]));
}

export function emit(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write((json ? JSON.stringify(value, null, 2) : human()) + '\n');
}
