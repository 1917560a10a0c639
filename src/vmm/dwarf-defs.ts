// DWARF constants the line-table decoder reads (DWARF 5 standard, sections 6.2.5 "The Line
// Number Program" and 7.22 "Line Number Information"; 7.5.6 attribute forms). Versions 2-4 use
// the same opcode numbers; v5 adds the entry-format tables (DW_LNCT_*).

/** Standard opcodes (7.22, Table 7.25). */
export const DW_LNS_copy = 1;
export const DW_LNS_advance_pc = 2;
export const DW_LNS_advance_line = 3;
export const DW_LNS_set_file = 4;
export const DW_LNS_set_column = 5;
export const DW_LNS_negate_stmt = 6;
export const DW_LNS_set_basic_block = 7;
export const DW_LNS_const_add_pc = 8;
export const DW_LNS_fixed_advance_pc = 9;
export const DW_LNS_set_prologue_end = 10;
export const DW_LNS_set_epilogue_begin = 11;
export const DW_LNS_set_isa = 12;

/** Extended opcodes (7.22, Table 7.26). */
export const DW_LNE_end_sequence = 1;
export const DW_LNE_set_address = 2;
export const DW_LNE_define_file = 3;
export const DW_LNE_set_discriminator = 4;

/** Line-table entry content types (7.22, Table 7.27). */
export const DW_LNCT_path = 1;
export const DW_LNCT_directory_index = 2;
export const DW_LNCT_timestamp = 3;
export const DW_LNCT_size = 4;
export const DW_LNCT_MD5 = 5;

/** Attribute forms that may describe a line-table entry field (7.5.6, Table 7.6). */
export const DW_FORM_block = 0x09;
export const DW_FORM_block1 = 0x0a;
export const DW_FORM_data1 = 0x0b;
export const DW_FORM_data2 = 0x05;
export const DW_FORM_data4 = 0x06;
export const DW_FORM_data8 = 0x07;
export const DW_FORM_data16 = 0x1e;
export const DW_FORM_string = 0x08;
export const DW_FORM_strp = 0x0e;
export const DW_FORM_udata = 0x0f;
export const DW_FORM_sdata = 0x0d;
export const DW_FORM_line_strp = 0x1f;

/** unit_length values that announce the 64-bit DWARF format (7.4). */
export const DWARF64_ESCAPE = 0xffffffff;
export const DWARF_RESERVED_LENGTHS = 0xfffffff0;
