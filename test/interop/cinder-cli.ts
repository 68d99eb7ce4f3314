// What the interop tests share about python3-cinderclient's CLI output.

/** `cinder show`-style tables are "| Property | Value |" rows: the value of the first row named `name`
 *  (later tables, e.g. attachment-create's connection_info, are not reached when an earlier row matches). */
export function field(table: string, name: string): string | undefined {
  for (const line of table.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells[1] === name) return cells[2];
  }
  return undefined;
}
