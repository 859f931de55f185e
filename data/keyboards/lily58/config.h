#define OLED_FONT_H "lib/glcdfont_lily.c"
