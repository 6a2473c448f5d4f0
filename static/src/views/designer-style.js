// The flow designer's styles, shipped in its own chunk so the staff app's first load does not carry them.
export const STYLE = `
main.console.console-wide { max-width: none; }
.flow-head { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem 1rem; margin: 0.75rem 0; }
.flow-head .button-row { margin-left: auto; }
.flow-name { margin: 0; font-size: 1.25rem; }
.flow-status { margin: 0.25rem 0; color: var(--muted); font-weight: 600; }
.flow-problems { color: var(--danger); margin: 0.25rem 0 0.5rem; padding-left: 1.25rem; }
.flow-grid { display: grid; grid-template-columns: minmax(0, 1fr) 24rem; gap: 1rem; align-items: start; }
.flow-json { grid-column: 1 / -1; }
@media (min-width: 110rem) { .flow-grid { grid-template-columns: minmax(0, 1fr) 24rem 28rem; } .flow-json { grid-column: auto; } }
.flow-graph { overflow: auto; max-height: 75vh; background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius, 10px); padding: 0.5rem; }
.flow-canvas { position: relative; margin: 0 auto; }
.flow-edges { position: absolute; inset: 0; overflow: visible; }
.flow-edge { fill: none; stroke: #6b7280; stroke-width: 1.75; }
.flow-edge-branch { stroke: #0a4fa3; }
.flow-edge-default { stroke-dasharray: 6 4; }
.flow-arrowhead { fill: #6b7280; }
.flow-edge-label { position: absolute; transform: translate(-50%, -50%); max-width: 14rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap;
  font-size: 0.75rem; line-height: 1.4; padding: 0 0.375rem; background: #e8f0fb; color: #0a4fa3; border: 1px solid #0a4fa3; border-radius: 999px; }
.flow-edge-label-default { background: #fff7e6; color: #8a4b00; border-color: #8a4b00; border-style: dashed; font-weight: 700; }
.flow-card { position: absolute; display: flex; flex-direction: column; gap: 0.125rem; text-align: left; padding: 0.5rem 0.625rem; font: inherit; color: inherit;
  background: var(--surface); border: 1px solid var(--border); border-left: 0.375rem solid #0a4fa3; border-radius: 8px; box-shadow: 0 1px 3px rgba(0, 0, 0, 0.12); overflow: hidden; }
button.flow-card { cursor: pointer; }
.flow-card:focus-visible { outline: 3px solid #0a4fa3; outline-offset: 2px; }
.flow-card-selected { box-shadow: 0 0 0 3px #0a4fa3; }
.flow-card-error { border-color: var(--danger); border-left-color: var(--danger); background: #fff5f5; }
.flow-card-title { font-weight: 700; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.flow-card-meta, .flow-card-who { font-size: 0.8125rem; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.flow-card-issue { font-size: 0.8125rem; color: var(--danger); font-weight: 700; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.flow-panel { background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius, 10px); padding: 0.75rem 1rem; max-height: 75vh; overflow: auto; }
.flow-panel .field { margin-bottom: 0.625rem; }
.flow-panel .section-title { margin-top: 0; }
.flow-pair { display: grid; grid-template-columns: 1fr 1fr; gap: 0.5rem; }
.flow-trio { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 0.5rem; }
.flow-fieldset { border: 1px solid var(--border); border-radius: 8px; padding: 0.5rem 0.75rem; }
.flow-chips { list-style: none; margin: 0 0 0.5rem; padding: 0; display: flex; flex-wrap: wrap; gap: 0.375rem; }
.flow-chip { display: inline-flex; align-items: center; gap: 0.25rem; }
.flow-chip-remove { min-width: 28px; min-height: 28px; border: 0; background: none; font-size: 1.125rem; cursor: pointer; color: inherit; }
.flow-pickers { display: grid; gap: 0.375rem; margin-bottom: 0.375rem; }
.flow-person { display: flex; align-items: end; gap: 0.5rem; }
.flow-person .field { flex: 1; margin: 0; }
.flow-json-text { width: 100%; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.8125rem; line-height: 1.45; }
.flow-table { width: 100%; border-collapse: collapse; background: var(--surface); }
.flow-table th, .flow-table td { text-align: left; padding: 0.5rem; border-bottom: 1px solid var(--border); vertical-align: middle; }
.flow-table .button-row { display: flex; flex-wrap: wrap; gap: 0.375rem; }
.flow-table td > .chip { margin-left: 0.5rem; }
.flow-when-rows { list-style: none; margin: 0 0 0.5rem; padding: 0; display: grid; gap: 0.5rem; }
.flow-when-row { border: 1px dashed var(--border); border-radius: 6px; padding: 0.375rem 0.5rem; display: grid; gap: 0.375rem; }
.flow-when-line { display: flex; flex-wrap: wrap; align-items: center; gap: 0.375rem; }
.flow-when-line > select, .flow-when-line > input { flex: 1 1 7rem; min-width: 0; }
.flow-when-word { font-size: 0.8125rem; color: var(--muted); }
.flow-when-boxes { display: flex; flex-wrap: wrap; gap: 0.25rem 0.75rem; }
.flow-when-combine { display: flex; align-items: center; gap: 0.5rem; margin-bottom: 0.375rem; }
.flow-when-json { width: 100%; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.75rem; }
.flow-when-details summary { cursor: pointer; margin: 0.25rem 0; }
.flow-head .button-row [aria-pressed=true] { box-shadow: inset 0 0 0 2px #0a4fa3; }
.flow-card-simline { font-size: 0.8125rem; font-weight: 700; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.flow-card-sim .flow-card-meta { display: none; }
.flow-card-sim-started { border-left-color: #137333; background: #f0faf2; }
.flow-card-sim-started .flow-card-simline { color: #137333; }
.flow-card-sim-skipped { border-left-color: #8a8f98; border-style: dashed; background: #f4f5f7; opacity: 0.85; }
.flow-card-sim-skipped .flow-card-title { text-decoration: line-through; }
.flow-card-sim-not_reached { border-left-color: #c7cbd1; opacity: 0.7; }
.flow-sim-head { display: flex; align-items: center; justify-content: space-between; gap: 0.5rem; }
.flow-sim-list { list-style: none; padding: 0; margin: 0; display: grid; gap: 0.5rem; }
.flow-sim-item { border-left: 0.25rem solid #c7cbd1; padding: 0.25rem 0.5rem; }
.flow-sim-item p { margin: 0.125rem 0; }
.flow-sim-started { border-left-color: #137333; }
.flow-sim-skipped { border-left-color: #8a8f98; }
.flow-diff-dialog { width: min(56rem, 96vw); }
.flow-diff-out { max-height: 60vh; overflow: auto; }
.flow-diff-list { list-style: none; padding: 0; margin: 0; display: grid; gap: 0.5rem; }
.flow-diff-table { width: 100%; border-collapse: collapse; margin-top: 0.25rem; font-size: 0.8125rem; }
.flow-diff-table th, .flow-diff-table td { text-align: left; padding: 0.25rem 0.375rem; border-bottom: 1px solid var(--border); vertical-align: top; word-break: break-word; }
.flow-diff-old { background: #fff0f0; }
.flow-diff-new { background: #eefaf0; }
.flow-diff-added > .chip { background: #eefaf0; color: #137333; }
.flow-diff-removed > .chip { background: #fff0f0; color: #a50e0e; }
.flow-form-list { list-style: none; margin: 0 0 0.5rem; padding: 0; display: grid; gap: 0.375rem; }
.flow-form-item { border: 1px solid var(--border); border-radius: 6px; padding: 0.25rem 0.5rem; }
.flow-form-item summary { cursor: pointer; padding: 0.25rem 0; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.flow-form-edit { display: grid; gap: 0.25rem; }
.flow-phone-head { display: flex; align-items: center; justify-content: space-between; gap: 0.5rem; margin: 0.75rem 0 0.375rem; font-weight: 700; }
.flow-phone-lang { width: auto; }
.flow-phone { width: 320px; max-width: 100%; margin: 0 auto; border: 10px solid #1f2328; border-radius: 28px; background: var(--bg, #f6f7f9);
  overflow: hidden; box-shadow: 0 2px 8px rgba(0, 0, 0, 0.2); }
.flow-phone-bar { background: #0a4fa3; color: #fff; font-weight: 700; padding: 0.625rem 0.75rem; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.flow-phone-screen { padding: 0.75rem; max-height: 34rem; overflow: auto; }
.flow-phone-label { display: block; font-weight: 600; margin-bottom: 0.25rem; }
.flow-port { position: absolute; width: 18px; height: 18px; transform: translate(-50%, -50%); border-radius: 50%; background: #fff;
  border: 2px solid #0a4fa3; cursor: crosshair; touch-action: none; z-index: 1; }
.flow-port:hover { background: #0a4fa3; }
.flow-edge-drawing { stroke: #0a4fa3; stroke-dasharray: 4 3; }
.flow-card-drop { box-shadow: 0 0 0 3px #137333; }
.flow-esc { margin: 0.25rem 0 0; padding-left: 1.25rem; font-size: 0.8125rem; }
.flow-esc li { margin: 0.125rem 0; }
.flow-esc-handed { color: #8a4b00; font-weight: 600; }
.flow-esc-line > .hint { margin: 0.375rem 0 0; }
.flow-branch-order .hint { margin: 0.25rem 0; }
`;
