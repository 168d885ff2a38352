import { describe, expect, it } from 'vitest';
import { renderMarkdown, text } from '../../../src/report/markdown.js';
import { notStartedReport, rolledBackReport, updatedReport } from './samples.js';

describe('the Markdown summary (GitHub step summary)', () => {
  it('a rolled-back run: instance, outcome, exit code, snapshot, the checks as a table, the rollback, duration, warnings', () => {
    expect(renderMarkdown(rolledBackReport())).toMatchInlineSnapshot(`
      "### ❌ web1: update failed; rolled back and healthy again

      - **Outcome:** rolled-back · **exit code:** 1
      - **Error** (after-update): checks failed: systemd (failed units: demo.service); http://{ip}:8080/health (expected &lt;ok&gt; &amp; got "bad" 'x'<br>second line \\| \\*two\\*)
      - **Snapshot:** safeupdate-20261126-042057 (expires 2026-12-10T04:20:57.000Z)
      - **Update:** \`sh -c 'apt-get update -q && apt-get upgrade -y'\`: exit 0 after 582ms
      - **Log:** /var/lib/safeupdate/runs/20261126T042055Z-web1-8a7f/web1/update.log
      - **Evidence:** /var/lib/safeupdate/runs/20261126T042055Z-web1-8a7f/web1/evidence
      - **Now:** Running
      - **Duration:** 12.1s

      | check | phase | result | attempts | time | message |
      | --- | --- | --- | --- | --- | --- |
      | systemd | baseline | ✔ passed | 2 | 1.1s | running, no new failed units |
      | systemd | after-update | ✖ failed | 1 | 77ms | failed units: demo.service |
      | http://{ip}:8080/health | after-update | ✖ failed | 3 | 4.1s | expected &lt;ok&gt; &amp; got "bad" 'x'<br>second line \\| \\*two\\* |
      | zones | after-update | ! failed (not required) | 1 | 300ms | exit 1: zone example.org broken |
      | systemd | after-rollback | ✔ passed | 3 | 3.2s | running, no new failed units |

      **Rollback:** ✔ stop 780ms · ✔ restore 533ms · ✔ start 185ms

      **Warnings**

      - check zones failed (after-update, not required): exit 1: zone example.org broken

      Run 20261126T042055Z-web1-8a7f · exit code 1 · 12.4s · report: /var/lib/safeupdate/runs/20261126T042055Z-web1-8a7f/report.json
      "
    `);
  });

  it('an updated run has no rollback and no warnings; a run that did not start says why', () => {
    const updated = renderMarkdown(updatedReport());
    expect(updated).toContain('### ✅ web1: updated and healthy');
    expect(updated).toContain('**Outcome:** updated · **exit code:** 0');
    expect(updated).not.toContain('Rollback');
    expect(updated).not.toContain('Warnings');
    const notStarted = renderMarkdown(notStartedReport());
    expect(notStarted).toContain('### ❌ web1: not started; nothing changed');
    expect(notStarted).toContain('**Error** (lock): web1 is being updated by run');
    expect(notStarted).not.toContain('| check |');
    expect(notStarted).not.toContain('**Snapshot:**');
  });

  it('a table cell cannot be broken nor turned into HTML or links by what a message says', () => {
    expect(text('a | b <script> & [x](y) `c` *d* _e_ #f\\g\nh')).toBe('a \\| b &lt;script&gt; &amp; \\[x\\](y) \\`c\\` \\*d\\* \\_e\\_ \\#f\\\\g<br>h');
  });

  it('a command with backticks and pipes stays one code span in the summary', () => {
    const report = updatedReport();
    report.command = ['sh', '-c', 'echo `date` | tee x'];
    expect(renderMarkdown(report)).toContain("**Update:** ``sh -c 'echo `date` \\| tee x'``: exit 0");
  });
});
