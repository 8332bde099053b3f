/** The fixed and end-of-export XML parts of the workbook (SpreadsheetML, ECMA-376). */
import { columnLetters, xmlText } from './cells.js';

const MAIN = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';
const REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
const PKG_REL = 'http://schemas.openxmlformats.org/package/2006/relationships';
const DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';

/** One worksheet of the workbook, as recorded in the encoder state. */
export interface SheetRef {
  name: string;
  /** Table section it belongs to. */
  table: number;
  /** File name under xl/worksheets/. */
  file: string;
  /** Last row number written (1 = header only). */
  lastRow: number;
  columns: number;
}

/** Worksheet start: frozen header row, column widths, then the open sheetData. */
export function sheetXmlHead(widths: number[]): string {
  const cols = widths.length === 0 ? '' : `<cols>${widths.map((w, i) => `<col min="${i + 1}" max="${i + 1}" width="${w}" customWidth="1"/>`).join('')}</cols>`;
  return `${DECL}<worksheet xmlns="${MAIN}" xmlns:r="${REL}">`
    + '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/></sheetView></sheetViews>'
    + `<sheetFormatPr defaultRowHeight="15"/>${cols}<sheetData>`;
}

function filterRange(sheet: SheetRef): string {
  return `A1:${columnLetters(sheet.columns - 1)}${sheet.lastRow}`;
}

/** Worksheet end: closes sheetData and adds the autofilter over header and data. */
export function sheetXmlTail(sheet: SheetRef): string {
  const filter = sheet.columns > 0 ? `<autoFilter ref="${filterRange(sheet)}"/>` : '';
  return `</sheetData>${filter}<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/></worksheet>`;
}

function attr(s: string): string {
  return xmlText(s).replaceAll('"', '&quot;');
}

export function workbookXml(sheets: SheetRef[]): string {
  const list = sheets.map((s, i) => `<sheet name="${attr(s.name)}" sheetId="${i + 1}" r:id="rId${i + 1}"/>`).join('');
  // Excel keeps each sheet's autofilter range in a hidden defined name.
  const names = sheets
    .filter((s) => s.columns > 0)
    .map((s) => {
      const [a, b] = filterRange(s).split(':') as [string, string];
      const abs = (ref: string): string => ref.replace(/^([A-Z]+)(\d+)$/, '$$$1$$$2');
      return `<definedName name="_xlnm._FilterDatabase" localSheetId="${sheets.indexOf(s)}" hidden="1">'${attr(s.name.replaceAll("'", "''"))}'!${abs(a)}:${abs(b)}</definedName>`;
    })
    .join('');
  return `${DECL}<workbook xmlns="${MAIN}" xmlns:r="${REL}"><bookViews><workbookView/></bookViews><sheets>${list}</sheets>`
    + (names ? `<definedNames>${names}</definedNames>` : '') + '</workbook>';
}

export function workbookRelsXml(sheets: SheetRef[]): string {
  const rels = sheets.map((s, i) => `<Relationship Id="rId${i + 1}" Type="${REL}/worksheet" Target="worksheets/${s.file}"/>`).join('');
  return `${DECL}<Relationships xmlns="${PKG_REL}">${rels}<Relationship Id="rId${sheets.length + 1}" Type="${REL}/styles" Target="styles.xml"/></Relationships>`;
}

export const ROOT_RELS_XML = `${DECL}<Relationships xmlns="${PKG_REL}"><Relationship Id="rId1" Type="${REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>`;

export function contentTypesXml(sheets: SheetRef[]): string {
  const ct = 'application/vnd.openxmlformats-officedocument.spreadsheetml';
  const overrides = sheets.map((s) => `<Override PartName="/xl/worksheets/${s.file}" ContentType="${ct}.worksheet+xml"/>`).join('');
  return `${DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">`
    + '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    + '<Default Extension="xml" ContentType="application/xml"/>'
    + `<Override PartName="/xl/workbook.xml" ContentType="${ct}.sheet.main+xml"/>${overrides}`
    + `<Override PartName="/xl/styles.xml" ContentType="${ct}.styles+xml"/></Types>`;
}

/** Styles: 0 plain, 1 bold header, 2 date, 3 date-time, 4 time (ids match cells.ts STYLE). */
export const STYLES_XML = `${DECL}<styleSheet xmlns="${MAIN}">`
  + '<numFmts count="3"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/><numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/><numFmt numFmtId="166" formatCode="hh:mm:ss"/></numFmts>'
  + '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font><font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
  + '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
  + '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
  + '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
  + '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
  + '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
  + '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
  + '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
  + '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
  + '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>';
