// Tables printed for people (`stack status`, `model quality`): left-aligned columns two spaces apart.

/** The rows as text, the first row the header; every cell padded to its column's widest. */
export function formatTextTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
