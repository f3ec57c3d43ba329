// Evaluates CEL validation rules the way the API server binds them: `self` (and for transition
// rules `oldSelf`) is the value at the rule's place in the object. Each stdin line is a JSON array
// of { rule, self, oldSelf? }; integers arrive tagged as {"$int": "<digits>"} so they become CEL
// ints, not doubles. Each answer is one stdout line: a JSON array of { value } or { error }.
import { createInterface } from "node:readline";
import { run } from "@bufbuild/cel";

const toCel = (v) => {
  if (Array.isArray(v)) return v.map(toCel);
  if (v !== null && typeof v === "object") {
    if (Object.keys(v).length === 1 && typeof v.$int === "string") return BigInt(v.$int);
    return new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  }
  return v;
};

const evaluate = ({ rule, self, oldSelf }) => {
  try {
    const bindings = { self: toCel(self) };
    if (oldSelf !== undefined) bindings.oldSelf = toCel(oldSelf);
    const value = run(rule, bindings);
    return typeof value === "boolean" ? { value } : { error: `rule returned ${typeof value}, not a bool` };
  } catch (e) {
    return { error: String(e?.message ?? e) };
  }
};

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === "") continue;
  process.stdout.write(JSON.stringify(JSON.parse(line).map(evaluate)) + "\n");
}
