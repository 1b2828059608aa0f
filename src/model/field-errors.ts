// Field errors for validating Kubernetes-shaped input (YAML from users, objects from a datastore
// without an API server in front). Every error names the field path, e.g. spec.containers[0].name.

export interface FieldError {
  /** Path of the offending field, e.g. `spec.ingress[0].ports[1].endPort`. */
  field: string;
  message: string;
}

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

export class Collector {
  readonly errors: FieldError[] = [];
  add(field: string, message: string): void {
    this.errors.push({ field, message });
  }
  /** Checks `v` is an object (or absent when optional); returns it when usable. */
  obj(v: unknown, field: string, optional = true): Obj | undefined {
    if (v === undefined || v === null) {
      if (!optional) this.add(field, 'is required');
      return undefined;
    }
    if (!isObj(v)) {
      this.add(field, 'must be an object');
      return undefined;
    }
    return v;
  }
  list(v: unknown, field: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.add(field, 'must be a list');
      return [];
    }
    return v;
  }
}
