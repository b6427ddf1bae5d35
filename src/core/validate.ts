import type { z } from 'zod';
import { InvalidInputError } from './errors.js';

/** A validation problem, as reported to callers in `InvalidInputError.details.issues`. */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** Parses `input` with `schema`, turning zod's failure into an {@link InvalidInputError} that names `what`. */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues: ValidationIssue[] = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
  const summary = issues
    .slice(0, 3)
    .map((issue) => `${issue.path}: ${issue.message}`)
    .join('; ');
  return fail(`invalid ${what}: ${summary}${issues.length > 3 ? ` (+${issues.length - 3} more)` : ''}`, issues);
}

function fail(message: string, issues: ValidationIssue[]): never {
  throw new InvalidInputError(message, { issues });
}
