// The filter bars above the console's tables: a row of labelled fields (each control's
// accessible name is its label's text), as a form when Enter or a button submits it,
// otherwise a labelled group.
import type { FormEvent, InputHTMLAttributes, ReactNode } from "react";

/** A form (`onSubmit`: its submit handler) or a group, named `label` either way. */
export function FilterBar({ label, onSubmit, children }: { label?: string; onSubmit?(event: FormEvent): void; children: ReactNode }) {
  if (onSubmit)
    return (
      <form className="filters" onSubmit={onSubmit} aria-label={label}>
        {children}
      </form>
    );
  return (
    <div className="filters" role={label ? "group" : undefined} aria-label={label}>
      {children}
    </div>
  );
}

/** An option: its value and text, or a string that is both. */
export type Choice = string | readonly [value: string | number, text: ReactNode];

export function SelectFilter({
  label,
  name,
  value,
  onChange,
  options,
}: {
  label: ReactNode;
  name?: string;
  value: string | number;
  onChange(value: string): void;
  options: readonly Choice[];
}) {
  return (
    <label>
      {label}
      <select name={name} value={value} onChange={(e) => onChange(e.target.value)}>
        {options.map((o) =>
          typeof o === "string" ? (
            <option key={o} value={o}>
              {o}
            </option>
          ) : (
            <option key={o[0]} value={o[0]}>
              {o[1]}
            </option>
          ),
        )}
      </select>
    </label>
  );
}

/** A labelled text (or date, number…) input. */
export function TextFilter({
  label,
  onChange,
  ...input
}: { label: ReactNode; onChange(value: string): void } & Omit<InputHTMLAttributes<HTMLInputElement>, "onChange">) {
  return (
    <label>
      {label}
      <input {...input} onChange={(e) => onChange(e.target.value)} />
    </label>
  );
}
