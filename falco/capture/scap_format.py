"""Constants of the .scap container (a pcapng-like sequence of blocks).

Every block is: u32 type, u32 total length (header and trailer included),
body padded to 4 bytes, u32 total length again.
"""

SHB_BLOCK = 0x0A0D0D0A
SHB_MAGIC = 0x1A2B3C4D
CURRENT_MAJOR = 1
CURRENT_MINOR = 2

MI_BLOCK = 0x201
MI_BLOCK_INT = 0x8002ABCD

PL_BLOCKS = {
    0x202: 1, 0x8000ABCD: 1, 0x207: 2, 0x8013ABCD: 2, 0x209: 3, 0x8014ABCD: 3,
    0x210: 4, 0x211: 5, 0x212: 6, 0x213: 7, 0x214: 8, 0x215: 9,
}
PL_BLOCK_V9 = 0x215

FDL_BLOCK = 0x203
FDL_BLOCK_INT = 0x8001ABCD
FDL_BLOCK_V2 = 0x218

IL_BLOCK = 0x205
IL_BLOCK_INT = 0x8011ABCD
IL_BLOCK_V2 = 0x219

UL_BLOCK = 0x206
UL_BLOCK_INT = 0x8012ABCD
UL_BLOCK_V2 = 0x220

EV_BLOCK = 0x204
EV_BLOCK_INT = 0x8010ABCD
EVF_BLOCK = 0x208
EV_BLOCK_V2 = 0x216
EVF_BLOCK_V2 = 0x217
EV_BLOCK_V2_LARGE = 0x221
EVF_BLOCK_V2_LARGE = 0x222

EVENT_BLOCKS = frozenset((EV_BLOCK, EV_BLOCK_INT, EVF_BLOCK, EV_BLOCK_V2,
                          EVF_BLOCK_V2, EV_BLOCK_V2_LARGE, EVF_BLOCK_V2_LARGE))

# Interface entry types.
II_IPV4 = 1
II_IPV6 = 2
II_IPV4_NOLINKSPEED = 3
II_IPV6_NOLINKSPEED = 4

USERBLOCK_USER = 0
USERBLOCK_GROUP = 1

# Machine info body: u32 cpus, u64 memory, u64 max_pid, char[128] hostname,
# u64 boot_ts_epoch, u64 flags, u64 reserved x2 (packed).
MI_LEN = 180
HOSTNAME_LEN = 128

# Limits libscap enforces on table strings; a longer one means corruption.
MAX_PATH = 1024
MAX_ARGS = 4096
MAX_ENV = 4096
MAX_CGROUPS = 4096
MAX_CREDENTIAL_STR = 1024
