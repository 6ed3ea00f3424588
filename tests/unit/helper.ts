export const thing: number = 2;
