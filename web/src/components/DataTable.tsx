// The console's data tables: a real <table> with a caption for screen readers, scoped
// column headers (numbers right-aligned), a row per item drawn by the page (so each keeps
// its own row headers, data attributes, links and keyboard handling) and, when there is
// no item, one row that says so across every column. Wrapped for horizontal scrolling
// unless `wrap` is false. `WhenLoaded` is the error / loading / data switch around one.
import type { ReactNode } from "react";
import type { Loaded } from "../load";
import { Failure, Loading } from "./common";

export interface Column {
  title: ReactNode;
  /** Right-aligned, tabular figures. */
  num?: boolean;
}

export function DataTable<T>({
  testid,
  caption,
  columns,
  rows,
  row,
  empty,
  wrap = true,
  className,
  data,
  children,
}: {
  testid?: string;
  /** What the table holds, for screen readers (visually hidden). */
  caption: ReactNode;
  columns: readonly (string | Column)[];
  rows: readonly T[];
  /** The <tr> of an item (with its key). */
  row(item: T, index: number): ReactNode;
  /** Shown in a row spanning every column when `rows` is empty (none: no such row). */
  empty?: ReactNode;
  /** The scrolling wrapper: true (`table-wrap`), a class added to it, or false (none). */
  wrap?: boolean | string;
  className?: string;
  /** `data-*` attributes of the table. */
  data?: Record<string, string>;
  /** After the table, inside the wrapper. */
  children?: ReactNode;
}) {
  const attributes = Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [`data-${k}`, v]));
  const table = (
    <table data-testid={testid} className={className} {...attributes}>
      <caption className="sr-only">{caption}</caption>
      <thead>
        <tr>
          {columns.map((c, i) => {
            const column = typeof c === "string" ? { title: c } : c;
            return (
              <th key={i} scope="col" className={column.num ? "num" : undefined}>
                {column.title}
              </th>
            );
          })}
        </tr>
      </thead>
      <tbody>
        {rows.map(row)}
        {rows.length === 0 && empty !== undefined && (
          <tr>
            <td colSpan={columns.length} className="muted">
              {empty}
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
  if (wrap === false)
    return (
      <>
        {table}
        {children}
      </>
    );
  return (
    <div className={wrap === true ? "table-wrap" : `table-wrap ${wrap}`}>
      {table}
      {children}
    </div>
  );
}

/** The failure, the "Loading …" status, or the loaded data drawn by `children`. */
export function WhenLoaded<T>({ load, what, children }: { load: Loaded<T>; what: string; children(data: T): ReactNode }) {
  return (
    <>
      {load.error && <Failure error={load.error} what={what} />}
      {load.data === undefined && !load.error && <Loading what={what} />}
      {load.data !== undefined && children(load.data)}
    </>
  );
}
