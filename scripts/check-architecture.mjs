// Keeps docs/architecture.md's module map true and src/ free of import cycles; run by `npm run lint`.
// 1. Every file under src/ has a row in a module table, and every file the doc names exists.
// 2. No file in src/ imports a file that imports it back, directly or through others.
// 3. src/index.ts imports every file of src/commands/ (the doc says COMMANDS holds every command).
// A module table is a Markdown table whose header is `| File | |`; its first cells name files, in
// backticks, relative to the first backticked `src/.../` directory of its section (the heading above
// it, or the prose after that heading).
// Usage: node scripts/check-architecture.mjs [ROOT]   (ROOT: the clone; default this script's clone)
import {existsSync, readFileSync, readdirSync, statSync} from 'node:fs'
import {dirname, join, posix, relative, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import ts from 'typescript'

const DOC = 'docs/architecture.md'

/** Every file under `dir`, as a path relative to `root` with forward slashes, sorted. */
function listFiles(root, dir) {
  const walk = (path) =>
    readdirSync(path, {withFileTypes: true}).flatMap((entry) => {
      const child = join(path, entry.name)
      return entry.isDirectory() ? walk(child) : [relative(root, child).split('\\').join('/')]
    })
  return walk(join(root, dir)).sort()
}

const backticked = (text) => [...text.matchAll(/`([^`]+)`/g)].map((match) => match[1])
const cells = (line) => line.trim().replace(/^\||\|$/g, '').split(/(?<!\\)\|/).map((cell) => cell.trim())
const isSrcDir = (token) => /^src\/([\w.-]+\/)*$/.test(token)
const globToRegExp = (glob) => new RegExp(`^${glob.replace(/[.+?^${}()[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`)

/**
 * The module tables of the doc: for each, its base directory, the lines of its header and of its last
 * row, and its rows (line number, the files of the first cell, the description cell).
 */
export function parseModuleTables(docText) {
  const lines = docText.split('\n')
  const tables = []
  let base = null
  let baseSet = false
  let inFence = false
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (/^\s*```/.test(line)) inFence = !inFence
    if (inFence) continue
    const isHeader = /^\|\s*File\s*\|\s*\|\s*$/.test(line) && /^\|[\s|:-]+\|\s*$/.test(lines[i + 1] ?? '')
    if (!isHeader) {
      // A heading starts a section; the first `src/.../` directory named in it or after it is its tables' base.
      if (/^#{1,6}\s/.test(line)) [base, baseSet] = [null, false]
      const dir = line.startsWith('|') ? undefined : backticked(line).find(isSrcDir)
      if (dir && !baseSet) [base, baseSet] = [dir, true]
      continue
    }
    const table = {base, headerLine: i + 1, endLine: i + 2, rows: []}
    let j = i + 2
    for (; j < lines.length && lines[j].startsWith('|'); j++) {
      const [first = '', description = ''] = cells(lines[j])
      table.rows.push({line: j + 1, files: backticked(first), description})
    }
    table.endLine = j
    tables.push(table)
    i = j - 1
  }
  return tables
}

/** `token` of a first cell, as a path from the clone: relative to the table's directory unless it starts with src/. */
const rowPath = (base, token) => (token.startsWith('src/') ? token : posix.join(base ?? 'src/', token))

/**
 * A first draft of a file's row: the first sentence of its header comment, or a command's summary. The
 * lead who merges a branch pastes it from the failure message, so it has to be close to final.
 */
function draftRole(root, file) {
  const text = readFileSync(join(root, file), 'utf8')
  if (file.startsWith('src/commands/')) {
    const summary = text.match(/static (?:override )?summary\s*=\s*(['"`])(.*?)\1/)
    const id = file.slice('src/commands/'.length).replace(/\.ts$/, '').split('/').join(' ')
    return `\`restwire ${id}\`: ${summary ? summary[2].replace(/\.$/, '') : 'TODO: what it does'}; flags and help, \`run()\` calls its \`cli/\` glue.`
  }
  const lines = text.split('\n')
  const start = lines.findIndex((line) => line.trim() !== '')
  const comment = []
  for (let i = start; i >= 0 && i < lines.length && /^\s*\/\//.test(lines[i]) && lines[i].trim() !== '//'; i++) {
    comment.push(lines[i].replace(/^\s*\/\/\s?/, ''))
  }
  if (comment.length === 0) return 'TODO: its role in one line (the file has no header comment to start from)'
  const sentence = comment.join(' ').match(/^.*?\.(?=\s|$)/)?.[0] ?? comment.join(' ')
  return sentence.replace(/\|/g, '\\|')
}

/** Problems of the module map: files of src/ without a row, and names of files or directories that do not exist. */
export function checkModuleMap(root) {
  const docText = readFileSync(join(root, DOC), 'utf8')
  const tables = parseModuleTables(docText)
  const files = listFiles(root, 'src')
  const named = new Set()
  const stale = []
  for (const table of tables) {
    if (table.base === null) stale.push(`${DOC}:${table.headerLine}: a \`| File | |\` table in a section that names no \`src/.../\` directory before it`)
    for (const row of table.rows) {
      for (const token of row.files) {
        const path = rowPath(table.base, token)
        if (existsSync(join(root, path)) && statSync(join(root, path)).isFile()) named.add(path)
        else stale.push(`${DOC}:${row.line}: names \`${token}\` (${path}), which does not exist: remove it from the row, or rename it`)
      }
      // A file the description refers to (`cli/korv-serve.js`, `link/redialer.ts`) must exist too.
      for (const token of backticked(row.description)) {
        if (!/^[\w.-]+(\/[\w.-]+)*\.(ts|js)$/.test(token) || token.startsWith('src/')) continue // src/ paths: below
        const dirs = [table.base ?? 'src/', 'src/', 'src/core/']
        // Only what reads as a path in src/ (`cli/x.js`, `link/y.ts`, `z.ts`), not `ssh2/lib/client.js`.
        const first = token.includes('/') ? token.split('/')[0] : ''
        if (!dirs.some((dir) => existsSync(join(root, dir, first)))) continue
        const candidates = dirs.map((dir) => posix.join(dir, token.replace(/\.js$/, '.ts')))
        if (!candidates.some((candidate) => existsSync(join(root, candidate)))) {
          stale.push(`${DOC}:${row.line}: refers to \`${token}\`, which is no file under ${table.base ?? 'src/'}, src/ or src/core/: fix the name`)
        }
      }
    }
  }
  // Full src/ paths anywhere in the doc (prose included); `*` matches within one directory.
  docText.split('\n').forEach((line, index) => {
    for (const token of backticked(line)) {
      if (!token.startsWith('src/') || /\s/.test(token)) continue
      if (isSrcDir(token)) {
        if (!existsSync(join(root, token))) stale.push(`${DOC}:${index + 1}: names directory \`${token}\`, which does not exist`)
      } else if (token.includes('*')) {
        if (!files.some((file) => globToRegExp(token).test(file))) stale.push(`${DOC}:${index + 1}: \`${token}\` matches no file`)
      } else if (/\.(ts|js)$/.test(token) && !existsSync(join(root, token.replace(/\.js$/, '.ts')))) {
        stale.push(`${DOC}:${index + 1}: names \`${token}\`, which does not exist`)
      }
    }
  })

  // Each missing file goes in the table of its deepest documented ancestor directory.
  const missing = files.filter((file) => !named.has(file))
  const additions = new Map()
  for (const file of missing) {
    let best = null
    for (const table of tables) {
      if (table.base !== null && file.startsWith(table.base) && (!best || table.base.length > best.base.length)) best = table
    }
    const row = `| \`${best ? file.slice(best.base.length) : file}\` | ${draftRole(root, file)} |`
    const key = best ? `the \`${best.base}\` table (${DOC}:${best.headerLine}, append after line ${best.endLine})` : `a new \`| File | |\` table`
    additions.set(key, [...(additions.get(key) ?? []), row])
  }
  return {missing, stale, additions}
}

/** Relative import specifiers of one TypeScript file: static, `export from`, `import()` and `import type`. */
function importsOf(path) {
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true)
  const found = []
  const visit = (node) => {
    let specifier
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) specifier = node.moduleSpecifier
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) specifier = node.arguments[0]
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) specifier = node.argument.literal
    if (specifier && ts.isStringLiteralLike(specifier) && specifier.text.startsWith('.')) {
      found.push({specifier: specifier.text, line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1})
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** The file of src/ a relative specifier names (`./x.js` is `x.ts`), or undefined when it is not one. */
function resolveImport(root, from, specifier) {
  const target = posix.join(posix.dirname(from), specifier)
  const stem = target.replace(/\.(js|mjs|cjs|ts)$/, '')
  for (const candidate of [target, `${stem}.ts`, `${stem}.d.ts`, `${stem}.tsx`, `${stem}/index.ts`]) {
    if (candidate.startsWith('src/') && existsSync(join(root, candidate)) && statSync(join(root, candidate)).isFile()) return candidate
  }
  return undefined
}

/** file of src/ → (file of src/ it imports → line of the first such import). */
export function importGraph(root) {
  const edges = new Map()
  for (const file of listFiles(root, 'src').filter((path) => /\.tsx?$/.test(path))) {
    const out = new Map()
    for (const {specifier, line} of importsOf(join(root, file))) {
      const target = resolveImport(root, file, specifier)
      if (target && !out.has(target)) out.set(target, line)
    }
    edges.set(file, out)
  }
  return edges
}

/** Files of src/commands/ that src/index.ts does not import (so not in COMMANDS, which the doc says holds every one). */
export function unregisteredCommands(root, edges = importGraph(root)) {
  const imported = edges.get('src/index.ts') ?? new Map()
  return listFiles(root, 'src/commands').filter((file) => file.endsWith('.ts') && !imported.has(file))
}

/** Import cycles among the files of src/: one cycle per strongly connected component, as [{file, line}...]. */
export function findImportCycles(root, edges = importGraph(root)) {
  const files = [...edges.keys()]
  // Tarjan's strongly connected components; any component of two or more files (or a file importing itself) has a cycle.
  let counter = 0
  const index = new Map()
  const low = new Map()
  const stack = []
  const onStack = new Set()
  const components = []
  const connect = (file) => {
    index.set(file, counter)
    low.set(file, counter++)
    stack.push(file)
    onStack.add(file)
    for (const next of edges.get(file)?.keys() ?? []) {
      if (!index.has(next)) {
        connect(next)
        low.set(file, Math.min(low.get(file), low.get(next)))
      } else if (onStack.has(next)) low.set(file, Math.min(low.get(file), index.get(next)))
    }
    if (low.get(file) === index.get(file)) {
      const component = []
      let member
      do {
        member = stack.pop()
        onStack.delete(member)
        component.push(member)
      } while (member !== file)
      if (component.length > 1 || edges.get(file)?.has(file)) components.push(component)
    }
  }
  for (const file of files) if (!index.has(file)) connect(file)

  // One shortest cycle through the component's first file (breadth-first within the component).
  return components.map((component) => {
    const members = new Set(component)
    const start = [...component].sort()[0]
    const previous = new Map([[start, null]])
    const queue = [start]
    let last
    while (queue.length > 0 && !last) {
      const file = queue.shift()
      for (const next of edges.get(file).keys()) {
        if (!members.has(next)) continue
        if (next === start) {
          last = file
          break
        }
        if (!previous.has(next)) {
          previous.set(next, file)
          queue.push(next)
        }
      }
    }
    const path = []
    for (let file = last; file !== null; file = previous.get(file)) path.unshift(file)
    return path.map((file, i) => ({file, imports: path[i + 1] ?? start, line: edges.get(file).get(path[i + 1] ?? start)}))
  })
}

function main() {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'))
  const {missing, stale, additions} = checkModuleMap(root)
  const edges = importGraph(root)
  const cycles = findImportCycles(root, edges)
  const unregistered = unregisteredCommands(root, edges)
  const out = []
  if (missing.length > 0) {
    out.push(`${DOC} does not name ${missing.length} file${missing.length === 1 ? '' : 's'} of src/: ${missing.join(', ')}.`)
    out.push('Add these rows (each role is drafted from the file\'s header comment or command summary: check that it reads as one line):')
    for (const [where, rows] of additions) out.push(`  in ${where}:`, ...rows.map((row) => `    ${row}`))
  }
  if (stale.length > 0) out.push(`${DOC} names what is not in src/:`, ...stale.map((problem) => `  ${problem}`))
  for (const file of unregistered) {
    out.push(`src/index.ts does not import ${file}: import it and add it to COMMANDS (${DOC} says every command is there).`)
  }
  for (const cycle of cycles) {
    out.push(`Import cycle in src/: ${[...cycle.map((edge) => edge.file), cycle[0].file].join(' → ')}`)
    for (const edge of cycle) out.push(`  ${edge.file}:${edge.line} imports ${edge.imports}`)
  }
  if (out.length > 0) {
    console.error(out.join('\n'))
    process.exit(1)
  }
  console.log(`${DOC} names all ${listFiles(root, 'src').length} files of src/; src/index.ts imports every command; no import cycles.`)
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main()
