// A YAML editor that shows the server's located errors in place: the line is
// underlined, the field's key on it is marked, the gutter flags the line, and the list
// under the editor names line, field and message (each entry moves the caret there).
import { useId, useRef, type UIEvent } from "react";
import type { FieldError } from "../api/client";

export interface Located extends FieldError {
  /** The 1-based line shown: the server's, or found from the field path. */
  at: number | null;
  /** The key to mark on that line (the path's last named segment). */
  key: string | null;
}

/** Place errors on lines: the server's line when it has one, otherwise the line of the
 * field path's last key (e.g. `metadata.namespace` -> the `namespace:` under `metadata:`). */
export function locate(text: string, errors: FieldError[]): Located[] {
  const lines = text.split("\n");
  return errors.map((e) => {
    const keys = (e.field || "").split(".").map((k) => k.replace(/\[\d+\]$/, "")).filter(Boolean);
    const key = keys.length ? keys[keys.length - 1]! : null;
    let at = e.line ?? null;
    if (at === null && keys.length) at = findPath(lines, keys);
    return { ...e, at, key };
  });
}

function findPath(lines: string[], keys: string[]): number | null {
  let from = 0;
  let found: number | null = null;
  for (const key of keys) {
    const pattern = new RegExp(`(^|[\\s{,-])${escape(key)}\\s*:`);
    const index = lines.findIndex((line, i) => i >= from && pattern.test(line));
    if (index < 0) return found;
    found = index + 1;
    from = index;
  }
  return found;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

interface Props {
  label: string;
  value: string;
  onChange(value: string): void;
  errors: Located[];
  readOnly?: boolean;
}

export function YamlEditor({ label, value, onChange, errors, readOnly }: Props) {
  const id = useId();
  const area = useRef<HTMLTextAreaElement>(null);
  const overlay = useRef<HTMLPreElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const lines = value.split("\n");
  const byLine = new Map<number, Located[]>();
  for (const e of errors) if (e.at !== null) byLine.set(e.at, [...(byLine.get(e.at) ?? []), e]);

  const sync = (event: UIEvent<HTMLTextAreaElement>) => {
    const { scrollTop, scrollLeft } = event.currentTarget;
    if (overlay.current) {
      overlay.current.scrollTop = scrollTop;
      overlay.current.scrollLeft = scrollLeft;
    }
    if (gutter.current) gutter.current.scrollTop = scrollTop;
  };

  const jump = (line: number) => {
    const el = area.current;
    if (!el) return;
    const offset = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    el.focus();
    el.setSelectionRange(offset, offset + (lines[line - 1]?.length ?? 0));
    const lineHeight = parseFloat(getComputedStyle(el).lineHeight) || 20;
    el.scrollTop = Math.max(0, (line - 3) * lineHeight);
  };

  return (
    <div className="yaml-editor">
      <label htmlFor={id}>{label}</label>
      <div className="editor-frame">
        <div className="gutter" ref={gutter} aria-hidden="true">
          {lines.map((_, i) => (
            <div key={i} className={byLine.has(i + 1) ? "gutter-line has-error" : "gutter-line"}>
              {i + 1}
            </div>
          ))}
        </div>
        <div className="editor-body">
          <pre className="editor-overlay" ref={overlay} aria-hidden="true">
            {lines.map((line, i) => (
              <OverlayLine key={i} text={line} errors={byLine.get(i + 1)} number={i + 1} />
            ))}
          </pre>
          <textarea
            id={id}
            ref={area}
            className="editor-input"
            value={value}
            onChange={(e) => onChange(e.target.value)}
            onScroll={sync}
            spellCheck={false}
            wrap="off"
            readOnly={readOnly}
            aria-invalid={errors.length > 0}
            aria-describedby={`${id}-errors`}
            rows={Math.min(Math.max(lines.length + 1, 12), 32)}
          />
        </div>
      </div>
      <div id={`${id}-errors`} aria-live="polite">
        {errors.length > 0 && (
          <ul className="editor-errors" data-testid="editor-errors">
            {errors.map((e, i) => (
              <li key={i}>
                <button type="button" className="link" onClick={() => e.at && jump(e.at)} disabled={!e.at}>
                  {e.at ? `Line ${e.at}` : "Document"}
                  {e.field ? ` · ${e.field}` : ""}
                </button>
                : <span className="error-message">{e.message}</span>
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}

function OverlayLine({ text, errors, number }: { text: string; errors: Located[] | undefined; number: number }) {
  if (!errors) return <span className="ov-line">{text || " "}{"\n"}</span>;
  const key = errors.map((e) => e.key).find((k) => k && text.includes(`${k}`));
  const start = key ? text.search(new RegExp(`${escape(key)}\\s*:`)) : -1;
  const title = errors.map((e) => e.message).join("; ");
  if (!key || start < 0)
    return (
      <span className="ov-line error-line" data-line={number} title={title}>
        {text || " "}
        {"\n"}
      </span>
    );
  return (
    <span className="ov-line error-line" data-line={number} title={title}>
      {text.slice(0, start)}
      <mark className="error-field" data-field={key}>
        {key}
      </mark>
      {text.slice(start + key.length)}
      {"\n"}
    </span>
  );
}
