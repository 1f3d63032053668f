// Checks the code's shape (docs/architecture.md "Code layout"): no source file under jobs/src over
// MAX_FILE lines and no function over MAX_FUNCTION lines. Prints each offender; exit 1 when any.
// Usage: tsx scripts/code-shape.ts [--list N]   (--list N: the N longest functions, offending or not)
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";

export const MAX_FILE = 400;
export const MAX_FUNCTION = 80;
const root = join(__dirname, "..");

function sources(dir: string): string[] {
    return readdirSync(dir).flatMap((n) => {
        const p = join(dir, n);
        return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
    });
}

export interface Span {
    file: string;
    name: string;
    lines: number;
}

function functionName(node: ts.Node, sf: ts.SourceFile): string {
    const n = (node as { name?: ts.Node }).name;
    if (n) return n.getText(sf);
    const p = node.parent;
    if (p && (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p))) return p.name.getText(sf);
    return `<anonymous@${sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1}>`;
}

export function measure(dir = join(root, "jobs", "src")): { files: Span[]; functions: Span[] } {
    const files: Span[] = [];
    const functions: Span[] = [];
    for (const path of sources(dir)) {
        const text = readFileSync(path, "utf8");
        const file = relative(root, path);
        files.push({ file, name: file, lines: text.split("\n").length });
        const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true);
        const visit = (node: ts.Node) => {
            if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
                const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
                const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
                functions.push({ file, name: functionName(node, sf), lines: end - start + 1 });
            }
            ts.forEachChild(node, visit);
        };
        visit(sf);
    }
    return { files, functions };
}

if (require.main === module) {
    const { files, functions } = measure();
    const list = process.argv.indexOf("--list");
    if (list > 0) {
        for (const f of [...functions].sort((a, b) => b.lines - a.lines).slice(0, Number(process.argv[list + 1] ?? 20))) console.log(`${f.lines}\t${f.file}\t${f.name}`);
        process.exit(0);
    }
    const bad = [...files.filter((f) => f.lines > MAX_FILE).map((f) => `file ${f.file}: ${f.lines} lines (max ${MAX_FILE})`), ...functions.filter((f) => f.lines > MAX_FUNCTION).map((f) => `function ${f.name} in ${f.file}: ${f.lines} lines (max ${MAX_FUNCTION})`)];
    for (const b of bad) console.log(b);
    console.log(bad.length ? `code-shape: ${bad.length} over the limits` : "code-shape: every file and function within the limits");
    process.exit(bad.length ? 1 : 0);
}
