/** How read commands print: aligned tables for people, JSON or YAML for scripts. */
export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** One column of a table (or one line of a detail view): a header and how to render an item's cell. */
export interface Column<T> {
  header: string;
  value: (item: T) => string | number | boolean | null | undefined;
}

/** Prints a list: a table with a header row, or the items as a JSON/YAML array. */
export async function printList<T>(
  format: OutputFormat,
  items: readonly T[],
  columns: readonly Column<T>[],
): Promise<void> {
  if (format !== 'table') return printData(format, items);
  const rows = items.map((item) => columns.map((column) => cell(column.value(item))));
  process.stdout.write(formatTable([columns.map((column) => column.header), ...rows]));
}

/** Prints one object: `FIELD  value` lines, or the object as JSON/YAML. */
export async function printItem<T>(
  format: OutputFormat,
  item: T,
  fields: readonly Column<T>[],
): Promise<void> {
  if (format !== 'table') return printData(format, item);
  process.stdout.write(formatTable(fields.map((field) => [`${field.header}:`, cell(field.value(item))])));
}

/** Prints data as JSON (pretty) or YAML; the YAML library is loaded only when asked for. */
export async function printData(format: Exclude<OutputFormat, 'table'>, data: unknown): Promise<void> {
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    return;
  }
  const { stringify } = await import('yaml');
  process.stdout.write(stringify(data));
}

/** Left-aligned columns two spaces apart; the last column is not padded. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((text, index) => {
      widths[index] = Math.max(widths[index] ?? 0, text.length);
    });
  }
  const lines = rows.map((row) =>
    row
      .map((text, index) => (index === row.length - 1 ? text : text.padEnd(widths[index] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function cell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined || value === '') return '-';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value).replaceAll(/[\r\n\t]+/g, ' ');
}
